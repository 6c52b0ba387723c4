"""Data-parallel process groups for training under ``torchrun``: who I am, which device, collectives.

``torchrun --nproc-per-node N -m course_lib train ...`` starts N processes and gives each the
environment variables RANK, WORLD_SIZE and LOCAL_RANK (and the rendezvous address). :func:`session`
reads them, joins the process group (NCCL when the ranks train on CUDA, each on its local GPU;
gloo on CPU) with a timeout, and tears it down at the end. Outside torchrun it yields the
single-process :class:`Group`, whose collectives are identities, so training code has one path.

Every rank draws the same global batch from the same seeded generator and trains on its own rows:
with W ranks and a global batch of B, rank r keeps rows [r B/W, (r+1) B/W). DistributedDataParallel
averages the W shard-mean gradients, which is the gradient of the global-batch mean because the
shards are equal, so a W-process run equals a one-process run with the same batch and seed up to
floating-point rounding.

A collective that waits longer than the timeout (a rank hung, not dead) raises instead of hanging;
a rank that dies makes torchrun stop the others. ``COURSE_LIB_DIST_TIMEOUT_S`` sets the timeout
(default 900 s: long enough for rank 0 to render the image cache while the others wait).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from course_lib import config

#: Seconds a collective may wait for the other ranks before it raises.
DEFAULT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Group:
    """This process's place in the training job; collectives are identities for one process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, validates, keeps the EMA and writes the run directory."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, batch_size: int) -> slice | None:
        """This rank's rows of a global batch (None for one process: all of them)."""
        if not self.is_distributed:
            return None
        if batch_size % self.world_size:
            raise ValueError(
                f"batch size {batch_size} does not split evenly over {self.world_size} processes; "
                f"choose a multiple of {self.world_size} (the global batch is shared out in equal "
                "shards)"
            )
        per_rank = batch_size // self.world_size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of a scalar over the ranks (the global-batch mean of equal-shard means)."""
        if not self.is_distributed:
            return value
        total = value.detach().clone().to(self.device, torch.float32)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total / self.world_size

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (so that all ranks stop at the same step)."""
        if not self.is_distributed:
            return flag
        count = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(count, op=dist.ReduceOp.SUM)
        return bool(count.item() > 0)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled; for decisions and state dicts)."""
        if not self.is_distributed:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank is here (an all-reduce, so it runs on the group's own device)."""
        if self.is_distributed:
            dist.all_reduce(torch.zeros(1, device=self.device))


def launched_ranks(environ: dict[str, str] | None = None) -> tuple[int, int, int] | None:
    """(rank, world size, local rank) set by torchrun, or None when not launched by it."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ or "RANK" not in environ:
        return None
    try:
        rank, world = int(environ["RANK"]), int(environ["WORLD_SIZE"])
        local = int(environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise ValueError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them), got "
            f"{environ.get('RANK')!r}, {environ.get('WORLD_SIZE')!r}, {environ.get('LOCAL_RANK')!r}"
        ) from None
    if not (world >= 1 and 0 <= rank < world and local >= 0):
        raise ValueError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world}")
    return rank, world, local


def rank_device(requested: str, local_rank: int) -> torch.device:
    """The device of one rank: ``auto``/``cuda`` give the rank its local GPU, ``cpu`` the CPU.

    A fixed GPU (``cuda:1``) is refused: two ranks on one GPU cannot use NCCL.
    """
    if requested == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    if requested in ("auto", "cuda"):
        config.device("cuda")  # a clear error when CUDA is absent
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"local rank {local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                "start at most that many processes per node"
            )
        return torch.device("cuda", local_rank)
    device = config.device(requested)
    if device.type == "cuda":
        raise ValueError(
            f"--device {requested} under torchrun would put every rank on one GPU; use --device "
            "auto or cuda (each rank takes its local GPU) or cpu"
        )
    return device


def timeout_seconds(environ: dict[str, str] | None = None) -> float:
    environ = os.environ if environ is None else environ
    value = float(environ.get("COURSE_LIB_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    if not value > 0:
        raise ValueError(f"COURSE_LIB_DIST_TIMEOUT_S must be positive, got {value:g}")
    return value


@contextmanager
def session(requested_device: str = "auto") -> Iterator[Group]:
    """The process group of this training: joined from torchrun's environment, or one process.

    A group already initialised by the caller is used as it is and left open; one joined here is
    destroyed on exit, errors included.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        yield Group(rank, world, local, _group_device(requested_device, local, world))
        return
    ranks = launched_ranks()
    if ranks is None or ranks[1] == 1:
        yield Group(device=config.device(requested_device))
        return
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed; train with one process")
    rank, world, local = ranks
    device = rank_device(requested_device, local)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        timeout=timedelta(seconds=timeout_seconds()),
    )
    try:
        yield Group(rank, world, local, device)
    finally:
        dist.destroy_process_group()


def _group_device(requested: str, local_rank: int, world: int) -> torch.device:
    return rank_device(requested, local_rank) if world > 1 else config.device(requested)


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Group",
    "launched_ranks",
    "rank_device",
    "session",
    "timeout_seconds",
]

"""Setting up a run: data, model, EMA, optimiser, the state a checkpoint carries, and one
optimisation step (``Run.optimisation_step``)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from course_lib import distributed
from course_lib.checkpoints import TRAINING_FORMAT
from course_lib.data import MinMaxNormalizer, load_pusht, make_windows, split_episodes
from course_lib.data.images import shared_dataset_images
from course_lib.policy import DiffusionPolicy, PolicyConfig, atomic_torch_save
from course_lib.train.batches import Batches, ShardLoss, device_generator
from course_lib.train.config import TrainConfig, ema_decay_at, lr_factor
from course_lib.train.history import write_csv


def shared_images(demos, group: distributed.Group):
    """The frames rendered at 96 px, memory-mapped from the image cache (``shared_dataset_images``).

    The first rank of each node renders the cache when it is missing while the other ranks wait,
    then each maps the same file: the operating system keeps one copy of its pages for all the
    ranks of a node and their loader workers.
    """
    leader = group.local_rank == 0
    if not leader:
        group.barrier()
    images = shared_dataset_images(demos, size=96, progress=group.is_main)
    if leader:
        group.barrier()
    return images


def adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over ``model``'s parameters, with the fused kernel on CPU and CUDA (the course decoder's
    step on 2 CPU threads: 1.5 ms fused, 6.9 ms tensor by tensor, 6.1 ms with foreach)."""
    device = next(model.parameters()).device
    return torch.optim.AdamW(
        model.parameters(),
        lr=lr,
        weight_decay=weight_decay,
        fused=device.type in ("cpu", "cuda"),
    )


def ema_update(max_decay: float):
    """The EMA step theta_ema <- theta_ema + (1 - d) (theta - theta_ema), d = ``ema_decay_at``,
    for ``AveragedModel(multi_avg_fn=...)``: one fused lerp over all the tensors of a device and
    dtype (1.6 ms per step for the course decoder on 2 CPU threads, 4.0 ms tensor by tensor).
    Non-floating buffers are copied."""

    def update(averaged: list, current: list, n_averaged) -> None:
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, 1.0 - ema_decay_at(int(n_averaged), max_decay))
        else:
            torch._foreach_copy_(averaged, current)

    return update


class Run:
    """One training run: data, model, EMA, optimiser and the state a checkpoint carries."""

    def __init__(
        self,
        policy_cfg: PolicyConfig,
        train_cfg: TrainConfig,
        run_dir: Path,
        demos,
        metadata: dict[str, Any] | None,
        group: distributed.Group,
    ):
        self.run_dir = run_dir
        self.ckpt_path = run_dir / "checkpoint.pt"
        self.group = group
        self.rows = group.shard(train_cfg.batch_size)
        self.device = group.device
        self.cfg = train_cfg
        demos = demos if demos is not None else load_pusht()
        train_ids, val_ids = split_episodes(
            demos.n_episodes, train_cfg.val_fraction, seed=train_cfg.seed
        )
        if train_cfg.mirror:  # episode k + E is episode k mirrored; validation stays as recorded
            train_ids = np.concatenate([train_ids, train_ids + demos.n_episodes])
            demos = demos.with_mirror()
        kw = dict(
            obs_type=policy_cfg.obs_type,
            n_obs=policy_cfg.n_obs,
            horizon=policy_cfg.horizon,
            action_kind=policy_cfg.action_kind,
        )
        train_windows = make_windows(demos, train_ids, **kw)
        val_windows = make_windows(demos, val_ids, **kw) if len(val_ids) else None
        obs_norm = MinMaxNormalizer.fit(train_windows.obs)
        act_norm = MinMaxNormalizer.fit(train_windows.action)
        images = shared_images(demos, group) if policy_cfg.is_image else None
        torch.manual_seed(train_cfg.seed)
        self.policy = DiffusionPolicy(policy_cfg, obs_norm, act_norm, metadata=metadata).to(
            self.device
        )
        if train_cfg.channels_last and policy_cfg.is_image:
            self.policy.encoder.use_channels_last()
        self.ema = (  # rank 0 alone keeps the EMA (the policy it ships)
            AveragedModel(
                self.policy, multi_avg_fn=ema_update(train_cfg.ema_decay), use_buffers=True
            )
            if group.is_main
            else None
        )
        self.model: torch.nn.Module = ShardLoss(self.policy, self.rows)
        if group.is_distributed:
            self.model = self._ddp(self.model)
        self.opt = adamw(self.policy, train_cfg.lr, train_cfg.weight_decay)
        self.gen = torch.Generator().manual_seed(train_cfg.seed)
        self.train_batches = Batches(train_windows, obs_norm, act_norm, images, self.device)
        self.val_batches = (
            Batches(val_windows, obs_norm, act_norm, images, self.device)
            if val_windows is not None
            else None
        )
        self.history: list[dict[str, float]] = []
        self.step = 0
        self.elapsed = 0.0
        self.running: float | None = None
        self.sched: torch.optim.lr_scheduler.LambdaLR | None = None

    def _ddp(self, model: torch.nn.Module) -> DistributedDataParallel:
        return DistributedDataParallel(
            model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            forward_sync_buffers=False,  # every rank builds the same buffers
        )

    # ------------------------------------------------------------------ schedule
    def fix_schedule(self, cfg: TrainConfig) -> None:
        """Set the (resolved) config and the learning-rate schedule it implies."""
        self.cfg = cfg
        self.sched = torch.optim.lr_scheduler.LambdaLR(  # reads self.cfg: a re-fit total shows
            self.opt, lambda s: lr_factor(s, self.cfg.warmup, self.cfg.steps)
        )

    # ------------------------------------------------------------------ one step
    def autocast(self):
        if not self.cfg.amp:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def optimisation_step(
        self,
        model: torch.nn.Module,
        opt: torch.optim.Optimizer,
        gen: torch.Generator,
        group: distributed.Group,
        batches: Iterator[tuple[dict, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """Draw a global batch (or take the next of ``batches``), take one AdamW step on ``model``
        (a ``ShardLoss``, DDP-wrapped when distributed); returns the (detached) loss of the global
        batch, the same on all ranks.

        The loss is averaged over the ranks before the backward pass, so that all of them skip a
        non-finite step together (a rank alone in a gradient all-reduce would wait forever).
        """
        model.train()
        if batches is not None:
            obs, actions = next(batches)
        else:
            idx = torch.randint(len(self.train_batches), (self.cfg.batch_size,), generator=gen)
            obs, actions = self.train_batches.get(idx, gen, train=True, rows=self.rows)
        with self.autocast():
            loss = model(obs, actions, device_generator(gen, self.device))
        global_loss = group.mean(loss.detach())
        if not torch.isfinite(global_loss):
            return global_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.cfg.max_grad_norm)
        opt.step()
        return global_loss

    # ------------------------------------------------------------------ budget
    def measure_throughput(self, seconds: float) -> float:
        """Samples/s of optimisation steps on throw-away copies of model and optimiser.

        Two warm-up steps, then steps until ``seconds`` have passed (at least three); the run's own
        weights, optimiser and random state are left untouched. Under torchrun the ranks measure
        together, as they train: the copy is wrapped in DistributedDataParallel (so the figure
        includes the gradient all-reduce), and they stop after the same step, as soon as one
        rank's time is up (a rank alone in an all-reduce would wait forever).
        """
        policy = copy.deepcopy(self.policy)
        model: torch.nn.Module = ShardLoss(policy, self.rows)
        if self.group.is_distributed:
            model = self._ddp(model)
        opt = adamw(policy, self.cfg.lr, self.cfg.weight_decay)  # the run's optimiser, timed
        gen = torch.Generator().manual_seed(self.cfg.seed + 1)
        ema = copy.deepcopy(self.ema)
        batches = self.batch_stream(self.cfg.seed + 1, 0, 2**62)
        try:
            for _ in range(2):
                self.optimisation_step(model, opt, gen, self.group, batches)
            n, start = 0, time.perf_counter()
            while not self.group.any(n >= 3 and time.perf_counter() - start >= seconds):
                self.optimisation_step(model, opt, gen, self.group, batches)
                if ema is not None:
                    ema.update_parameters(policy)
                n += 1
            return n * self.cfg.batch_size / (time.perf_counter() - start)
        finally:
            if batches is not None:
                batches.close()

    def batch_stream(self, seed: int, start: int, stop: int):
        """The training batches from worker processes, or None (drawn in ``optimisation_step``)."""
        if not self.cfg.num_workers:
            return None
        return self.train_batches.stream(
            seed, start, stop, self.cfg.batch_size, self.rows, self.cfg.num_workers
        )

    # ------------------------------------------------------------------ persistence
    def load(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.gen.set_state(state["generator"])
        self.history = json.loads(state["history"])
        saved_metadata = json.loads(state["policy"]["metadata"])
        self.policy.metadata = {**saved_metadata, **self.policy.metadata}
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        running = state.get("running_loss")
        self.running = None if running is None or math.isnan(running) else float(running)

    def save(self) -> None:
        """Write the checkpoint and ``loss.csv`` (rank 0; the other ranks hold the same weights)."""
        if not self.group.is_main:
            return
        ema_policy: DiffusionPolicy = self.ema.module
        ema_policy.metadata = self.policy.metadata
        atomic_torch_save(
            {
                "format": TRAINING_FORMAT,
                "policy": ema_policy.checkpoint_payload(),
                "model": self.policy.state_dict(),
                "ema": self.ema.state_dict(),
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
                "generator": self.gen.get_state(),
                "history": json.dumps(self.history),
                "step": self.step,
                "elapsed": self.elapsed,
                "running_loss": float("nan") if self.running is None else self.running,
                "train_config": json.dumps(dataclasses.asdict(self.cfg)),
            },
            self.ckpt_path,
        )
        write_csv(self.history, self.run_dir / "loss.csv")

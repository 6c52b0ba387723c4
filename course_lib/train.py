"""Training loop: AdamW, linear warm-up then cosine decay, EMA weights, checkpoints that resume exactly.

One optimisation step draws a batch of windows (observation history, action chunk), normalises them
and minimises the SDE's objective (paper Section 3.2, Algorithm 1; Eqs. 4, 6, 9). The EMA of the
weights, theta_ema <- d theta_ema + (1 - d) theta with d = min(d_max, (1 + n)/(10 + n)), is the
policy that gets evaluated and shipped.

A run directory holds ``checkpoint.pt`` (model, EMA, optimiser, scheduler, random state, history and
running loss; written atomically every ``ckpt_every`` steps, on Ctrl-C and on SIGTERM), ``loss.csv``
and, at the end, ``policy.pt`` (the EMA policy). Calling ``train`` again on the same directory
resumes where it stopped and gives the same weights and the same ``loss.csv`` rows (timing columns
aside) as an uninterrupted run. A lock file keeps a second process out of a directory in use.

Wall-clock budgets (``TrainConfig.minutes``): the throughput is measured for a few seconds on a
throw-away copy of the model, the step count is fixed from it, and warm-up, cosine decay,
validation and checkpoint intervals follow from that count. The fitted count is recorded, so
``steps=<fitted>`` without a budget reproduces the run exactly.

Under ``torchrun`` (``course_lib.distributed``) every rank draws the same global batch, times and
noise from the same seeded generator and trains on its own equal shard through
DistributedDataParallel, so the run equals a one-process run with the same batch and seed up to
rounding; rank 0 alone holds the lock, logs, validates, keeps the EMA and writes the run directory.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from course_lib import distributed
from course_lib.data import MinMaxNormalizer, load_pusht, make_windows, split_episodes
from course_lib.data.batches import StepBatches, step_loader, window_frames
from course_lib.data.images import shared_dataset_images
from course_lib.outputs import ensure_writable_dir
from course_lib.policy import (
    DiffusionPolicy,
    PolicyConfig,
    atomic_torch_save,
    read_checkpoint,
)
from course_lib.run_lock import RunLock

_TRAIN_FORMAT = "course_lib.TrainingCheckpoint"

#: TrainConfig fields that may change between a run and its resumption (they do not change the
#: numbers: where it runs, how often it is saved).
_RESUMABLE_CHANGES = frozenset({"device", "num_threads", "ckpt_every", "channels_last"})


@dataclass
class TrainConfig:
    """Optimisation settings (the course recipe is in ``course_lib.recipes``).

    ``minutes`` sets a wall-clock budget: ``steps`` is then fitted to it at the start of the run.
    ``warmup``, ``val_every`` and ``ckpt_every`` left at None follow from ``steps``
    (:meth:`resolved`): warm-up min(300, steps/10), 10 validation rows, 2 checkpoints at least.

    Throughput options: ``amp`` runs the forward pass (image encoder included) under bf16
    autocast; ``channels_last`` keeps the image encoder in NHWC order (image policies; the same
    numbers to rounding); ``num_workers`` > 0 prepares batches ahead in that many DataLoader
    worker processes, each batch drawn from its own seed (``course_lib.data.batches``: other
    batches than with 0, which draws them in the training loop from the run's generator).
    """

    steps: int = 6000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int | None = None
    ema_decay: float = 0.999
    seed: int = 0
    val_fraction: float = 0.05
    val_every: int | None = None
    val_windows: int = 2048
    ckpt_every: int | None = None
    device: str = "auto"
    num_threads: int | None = None
    minutes: float | None = None
    amp: bool = False
    max_grad_norm: float | None = 1.0
    channels_last: bool = False
    num_workers: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "warmup", "val_every", "ckpt_every", "num_threads"):
            value = getattr(self, name)
            if value is None and name not in ("steps", "batch_size"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.num_workers, bool) or not (
            isinstance(self.num_workers, int) and self.num_workers >= 0
        ):
            raise ValueError(f"num_workers must be an integer >= 0, got {self.num_workers!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"minutes must be a positive number, got {self.minutes}")

    def resolved(self) -> TrainConfig:
        """A copy with the schedule lengths that follow from ``steps`` filled in."""
        steps = self.steps
        return dataclasses.replace(
            self,
            warmup=self.warmup or min(300, max(1, steps // 10)),
            val_every=self.val_every or max(1, min(250, steps // 10)),
            ckpt_every=self.ckpt_every or max(1, min(500, steps // 2)),
        )


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class ResumeConflict(ValueError):
    """The run directory holds a run whose settings differ from the ones asked for."""


@dataclass
class TrainResult:
    policy: DiffusionPolicy
    history: list[dict[str, float]]
    run_dir: Path
    seconds: float


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def ema_decay_at(n_averaged: int, max_decay: float) -> float:
    """EMA decay that ramps up from 0.1 so early averages are not stuck at the initial weights."""
    return min(max_decay, (1.0 + n_averaged) / (10.0 + n_averaged))


class _Batches:
    """Normalised training or validation tensors, sampled with a dedicated generator."""

    def __init__(
        self, windows, obs_norm: MinMaxNormalizer, act_norm: MinMaxNormalizer, images, device
    ):
        self.obs = obs_norm.normalize(windows.obs).to(device)
        self.action = act_norm.normalize(windows.action).to(device)
        self.frame_index = getattr(windows, "frame_index", None)
        self.images = images
        self.device = device

    def __len__(self) -> int:
        return self.obs.shape[0]

    def get(
        self,
        idx: torch.Tensor,
        generator: torch.Generator | None,
        train: bool,
        rows: slice | None = None,
    ) -> tuple[dict, torch.Tensor]:
        """Observations of windows ``idx[rows]`` and the actions of all windows ``idx``.

        The random crops are drawn for the whole batch (the generator advances as in a single
        process) and cut from uint8 frames of the kept rows only (``window_frames``).
        """
        frames = None
        if self.images is not None:
            frames = window_frames(
                self.images, self.frame_index, idx, 84, generator if train else None, rows
            )
        return self._on_device(idx, frames, rows)

    def stream(
        self, seed: int, start: int, stop: int, batch_size: int, rows: slice | None, workers: int
    ) -> Iterator[tuple[dict, torch.Tensor]]:
        """Batches ``start`` .. ``stop - 1`` of a run seeded ``seed``, drawn by step number and
        prepared ahead by ``workers`` processes (``course_lib.data.batches``), pinned on CUDA.
        Close the iterator to stop the workers."""
        batches = StepBatches(len(self), batch_size, seed, rows, self.frame_index, self.images)
        pin = self.device.type == "cuda"
        for batch in step_loader(batches, start, stop, workers, pin_memory=pin):
            yield self._on_device(batch["idx"], batch.get("frames"), rows)

    def _on_device(
        self, idx: torch.Tensor, frames: torch.Tensor | None, rows: slice | None
    ) -> tuple[dict, torch.Tensor]:
        """uint8 frames (b, n_obs, H, W, 3) go to the device (through pinned memory on CUDA) and
        only there become float (b, n_obs, 3, H, W) in [0, 1]: a quarter of the bytes to copy."""
        rows = rows or slice(None)
        obs = {"obs": self.obs[idx[rows].to(self.device)]}
        if frames is not None:
            if self.device.type == "cuda":
                if not frames.is_pinned():
                    frames = frames.pin_memory()
                frames = frames.to(self.device, non_blocking=True)
            frames = frames.permute(0, 1, 4, 2, 3).contiguous()
            obs["images"] = frames.float() / 255.0
        return obs, self.action[idx.to(self.device)]


class _ShardLoss(torch.nn.Module):
    """Mean training loss of ``policy`` on the rows ``rows`` of a global batch (all rows: None).

    The SDE draws the times and noise of the whole global batch from the shared generator, so each
    rank consumes the random numbers a single process would; the network runs on the kept rows
    only (the others get a constant zero output, and their per-sample losses are dropped). The
    per-sample losses are independent (no batch statistics: the image encoder uses GroupNorm), so
    the kept rows' losses equal the single-process ones. As a module, DistributedDataParallel can
    wrap it: the gradient of each shard mean, averaged over equal shards, is that of the global mean.
    """

    def __init__(self, policy: DiffusionPolicy, rows: slice | None):
        super().__init__()
        self.policy = policy
        self.rows = rows

    def forward(
        self, obs: dict[str, torch.Tensor], actions: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        if self.rows is None:
            return self.policy.loss(obs, actions, generator=generator)
        rows, batch = self.rows, actions.shape[0]
        cond = self.policy.encode(obs)

        def net_on_rows(x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
            if c_noise.dim() and c_noise.shape[0] == batch:
                c_noise = c_noise[rows]
            out = self.policy.decoder(x_in[rows], c_noise, cond)
            before = out.new_zeros((rows.start, *out.shape[1:]))
            after = out.new_zeros((batch - rows.stop, *out.shape[1:]))
            return torch.cat([before, out, after])

        return self.policy.sde.loss(net_on_rows, actions, generator=generator)[rows].mean()


class _StopRequest:
    """SIGINT/SIGTERM set a flag that the loop reads between steps (the step in flight finishes,
    is logged and checkpointed); a second signal interrupts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt(f"signal {signum} (second request)")
        self.signum = signum

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


class _Run:
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
        images = _shared_images(demos, group) if policy_cfg.is_image else None
        torch.manual_seed(train_cfg.seed)
        self.policy = DiffusionPolicy(policy_cfg, obs_norm, act_norm, metadata=metadata).to(
            self.device
        )
        if train_cfg.channels_last and policy_cfg.is_image:
            self.policy.encoder.use_channels_last()
        self.ema = (  # rank 0 alone keeps the EMA (the policy it ships)
            AveragedModel(
                self.policy,
                avg_fn=lambda avg, cur, n: (
                    avg + (cur - avg) * (1.0 - ema_decay_at(int(n), train_cfg.ema_decay))
                ),
                use_buffers=True,
            )
            if group.is_main
            else None
        )
        self.model: torch.nn.Module = _ShardLoss(self.policy, self.rows)
        if group.is_distributed:
            self.model = self._ddp(self.model)
        self.opt = torch.optim.AdamW(
            self.policy.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
        )
        self.gen = torch.Generator().manual_seed(train_cfg.seed)
        self.train_batches = _Batches(train_windows, obs_norm, act_norm, images, self.device)
        self.val_batches = (
            _Batches(val_windows, obs_norm, act_norm, images, self.device)
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
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_factor(s, cfg.warmup, cfg.steps)
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
        (a ``_ShardLoss``, DDP-wrapped when distributed); returns the (detached) loss of the global
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
            loss = model(obs, actions, _device_generator(gen, self.device))
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
        model: torch.nn.Module = _ShardLoss(policy, self.rows)
        if self.group.is_distributed:
            model = self._ddp(model)
        opt = torch.optim.AdamW(policy.parameters(), lr=self.cfg.lr)
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
                "format": _TRAIN_FORMAT,
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
        _write_csv(self.history, self.run_dir / "loss.csv")


def _saved_train_config(state: dict[str, Any], path: Path) -> dict[str, Any]:
    if state.get("format") != _TRAIN_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint")
    return json.loads(state["train_config"])


def _check_resume(
    saved_policy: dict[str, Any],
    saved_train: dict[str, Any],
    policy_cfg: PolicyConfig,
    train_cfg: TrainConfig,
    run_dir: Path,
) -> TrainConfig:
    """The config to resume with, or a ``ResumeConflict`` naming every setting that changed.

    A budget run resumes with the step count fitted when it started (same ``minutes``).
    """
    if saved_policy != dataclasses.asdict(policy_cfg):
        changed = sorted(
            k for k in saved_policy if saved_policy[k] != dataclasses.asdict(policy_cfg).get(k)
        )
        raise ResumeConflict(
            f"{run_dir} holds a run with another policy config (differs in {', '.join(changed)}: "
            f"{ {k: saved_policy[k] for k in changed} }); use another run directory, or --fresh "
            "(resume=False) to start over"
        )
    if train_cfg.minutes is not None and saved_train.get("minutes") == train_cfg.minutes:
        train_cfg = dataclasses.replace(train_cfg, steps=saved_train["steps"])
    wanted = dataclasses.asdict(train_cfg.resolved())
    changed = sorted(
        k
        for k in wanted
        if k not in _RESUMABLE_CHANGES and saved_train.get(k, wanted[k]) != wanted[k]
    )
    if changed:
        detail = ", ".join(f"{k}: {saved_train.get(k)} -> {wanted[k]}" for k in changed)
        raise ResumeConflict(
            f"{run_dir} holds a run at different settings ({detail}); resuming would not give "
            "the run it started. Use --fresh (resume=False) to start over, or another run "
            "directory"
        )
    return TrainConfig(**{**saved_train, **{k: wanted[k] for k in _RESUMABLE_CHANGES}})


def train(
    policy_cfg: PolicyConfig,
    train_cfg: TrainConfig,
    run_dir: str | Path,
    *,
    demos=None,
    resume: bool = True,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    on_record: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train (or resume training of) a diffusion policy in ``run_dir``; returns the EMA policy.

    ``on_step(step, loss)`` is called after every optimisation step and ``on_record(row)`` after
    every validation row (live curves in notebooks, the kill-and-resume tests). Ctrl-C and SIGTERM
    finish the step in flight, save a checkpoint, then raise ``KeyboardInterrupt``.

    Under torchrun (RANK/WORLD_SIZE in the environment) every rank calls this with the same
    arguments; each returns the same EMA policy and history. ``on_step`` runs on every rank,
    ``on_record`` on rank 0.
    """
    t_call = time.perf_counter()
    with distributed.session(train_cfg.device) as group:
        run_dir = Path(run_dir)
        if group.is_main:
            ensure_writable_dir(run_dir, "run directory")
        if train_cfg.num_threads:
            torch.set_num_threads(train_cfg.num_threads)
        with RunLock(run_dir) if group.is_main else nullcontext():
            if group.is_main:
                _clean_leftovers(run_dir, fresh=not resume)
            run = _Run(policy_cfg, train_cfg, run_dir, demos, metadata, group)
            budget = _start(run, policy_cfg, train_cfg, resume, t_call)
            return _loop(run, progress and group.is_main, on_step, on_record, budget)


def _start(
    run: _Run, policy_cfg: PolicyConfig, train_cfg: TrainConfig, resume: bool, t_call: float
) -> dict[str, float]:
    """Resume from the checkpoint or start afresh (fitting ``steps`` to a budget); returns the budget.

    Rank 0 reads the checkpoint and decides; the other ranks get its decision and state (less the
    EMA, which only rank 0 keeps), so the run directory need not be visible to them.
    """
    group = run.group
    plan = None
    if group.is_main and resume and run.ckpt_path.exists():
        state = read_checkpoint(run.ckpt_path)
        saved = _saved_train_config(state, run.ckpt_path)
        cfg = _check_resume(
            json.loads(state["policy"]["config"]), saved, policy_cfg, train_cfg, run.run_dir
        )
        plan = (cfg, state)
    if group.is_distributed:
        shared = group.broadcast(
            None if plan is None else (plan[0], {k: v for k, v in plan[1].items() if k != "ema"})
        )
        plan = plan if group.is_main else shared
    if plan is not None:
        cfg, state = plan
        run.fix_schedule(cfg)
        run.load(state)
        return run.policy.metadata.get("budget", {})
    cfg, budget = train_cfg, {}
    if train_cfg.minutes is not None:
        cfg, budget = _fit_to_budget(run, train_cfg, t_call)
        run.policy.metadata["budget"] = budget
    run.fix_schedule(cfg.resolved())
    return budget


def _shared_images(demos, group: distributed.Group):
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


def _fit_to_budget(
    run: _Run, train_cfg: TrainConfig, t_call: float
) -> tuple[TrainConfig, dict[str, float]]:
    """Measure the throughput, then fix ``steps`` so that the whole call takes ``minutes``.

    steps = rate x (budget - set-up - measurement) x 0.97 / batch, the 3 % covering validation
    rows and checkpoints.
    """
    budget_s = 60.0 * train_cfg.minutes
    probe_s = min(8.0, 0.05 * budget_s)
    rate = run.measure_throughput(probe_s)
    # rank 0's figures for all: every rank then fits the same step count (or raises the same error)
    rate, left = run.group.broadcast((rate, budget_s - (time.perf_counter() - t_call)))
    steps = int(0.97 * rate * left / train_cfg.batch_size)
    if steps < 1:
        raise ValueError(
            f"a {train_cfg.minutes:g}-minute budget leaves no time for a step at the measured "
            f"{rate:.0f} samples/s; give more minutes"
        )
    fitted = dataclasses.replace(train_cfg, steps=steps)
    return fitted, {
        "minutes": train_cfg.minutes,
        "measured_samples_per_s": round(rate, 1),
        "fitted_steps": steps,
    }


def _loop(
    run: _Run,
    progress: bool,
    on_step: Callable[[int, float], None] | None,
    on_record: Callable[[dict[str, float]], None] | None,
    budget: dict[str, float],
) -> TrainResult:
    cfg = run.cfg
    bar = tqdm(
        total=cfg.steps,
        initial=run.step,
        disable=not progress,
        desc=f"train {run.policy.cfg.sde}"
        + (f" ({budget['minutes']:g} min budget)" if budget else ""),
        file=sys.stdout,
        dynamic_ncols=True,
    )
    last_good = run.step
    main = run.group.is_main
    t_start = time.perf_counter() - run.elapsed
    t_window, n_window = time.perf_counter(), 0
    batches = run.batch_stream(cfg.seed, run.step, cfg.steps)  # resumes at its step
    try:
        with _StopRequest() as stop:
            while run.step < cfg.steps:
                loss = run.optimisation_step(run.model, run.opt, run.gen, run.group, batches)
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"loss became {value} at step {run.step + 1}; the last good checkpoint "
                        f"(step {last_good}) is kept in {run.ckpt_path}. Lower --lr or check "
                        "the data."
                    )
                run.sched.step()
                if run.ema is not None:
                    run.ema.update_parameters(run.policy)
                run.step += 1
                n_window += cfg.batch_size
                run.running = value if run.running is None else 0.98 * run.running + 0.02 * value
                now = time.perf_counter()
                run.elapsed = now - t_start
                if main and (run.step % cfg.val_every == 0 or run.step == cfg.steps):
                    record = {
                        "step": run.step,
                        "train_loss": run.running,
                        "val_loss": _validation_loss(run.ema.module, run.val_batches, cfg),
                        "lr": run.sched.get_last_lr()[0],
                        "samples_per_s": n_window / max(now - t_window, 1e-9),
                        "elapsed_s": run.elapsed,
                    }
                    t_window, n_window = time.perf_counter(), 0
                    run.history.append(record)
                    bar.set_postfix(
                        loss=f"{run.running:.4g}",
                        val=f"{record['val_loss']:.4g}",
                        sps=f"{record['samples_per_s']:.0f}",
                    )
                    if on_record is not None:
                        on_record(record)
                if run.step % cfg.ckpt_every == 0 or run.step == cfg.steps:
                    run.save()
                    last_good = run.step
                bar.update(1)
                if on_step is not None:
                    on_step(run.step, value)
                if run.group.any(stop.signum is not None):  # all ranks stop after the same step
                    raise KeyboardInterrupt(f"signal {stop.signum or 'on another rank'}")
    except KeyboardInterrupt:
        if run.step > last_good:
            run.elapsed = time.perf_counter() - t_start
            run.save()
        bar.close()
        if main:
            print(
                f"\ninterrupted at step {run.step}; checkpoint saved to {run.ckpt_path}",
                file=sys.stderr,
            )
        raise
    finally:
        if batches is not None:
            batches.close()  # stops the loader's workers
    bar.close()
    run.elapsed = time.perf_counter() - t_start
    return _finish(run, cfg)


def _finish(run: _Run, cfg: TrainConfig) -> TrainResult:
    """Rank 0 writes ``policy.pt`` (the EMA policy) and ``loss.csv``; every rank returns them."""
    final: DiffusionPolicy
    if run.group.is_main:
        final = run.ema.module.eval()
        final.metadata = {
            **run.policy.metadata,
            "train_config": dataclasses.asdict(cfg),
            "train_seconds": round(run.elapsed, 1),
            "steps": run.step,
            "processes": run.group.world_size,
        }
        final.save(run.run_dir / "policy.pt")
        _write_csv(run.history, run.run_dir / "loss.csv")
    if run.group.is_distributed:  # also the barrier: no rank returns before policy.pt exists
        shared = run.group.broadcast(
            (final.state_dict(), final.metadata, run.history) if run.group.is_main else None
        )
        if not run.group.is_main:
            final = copy.deepcopy(run.policy).eval()
            final.load_state_dict(shared[0])
            final.metadata, run.history = shared[1], shared[2]
    return TrainResult(final, run.history, run.run_dir, run.elapsed)


def _clean_leftovers(run_dir: Path, fresh: bool) -> None:
    """Remove temporary files of interrupted writes; on a fresh start also the old results, so that
    nothing of an earlier run can pass for the new one's."""
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    if fresh:
        for name in ("policy.pt", "checkpoint.pt", "loss.csv"):
            (run_dir / name).unlink(missing_ok=True)


def export_policy(run_dir: str | Path) -> Path:
    """Write ``policy.pt`` from the EMA weights of an unfinished run's ``checkpoint.pt``.

    For runs stopped before their last step (time budget, Ctrl-C): the metadata records the step
    reached and the planned total, so a table built from it says so.
    """
    run_dir = Path(run_dir)
    state = read_checkpoint(run_dir / "checkpoint.pt")
    planned = _saved_train_config(state, run_dir / "checkpoint.pt")
    payload = dict(state["policy"])
    metadata = json.loads(payload["metadata"])
    metadata.update(
        train_config=planned,
        steps=int(state["step"]),
        train_seconds=round(float(state["elapsed"]), 1),
        stopped_early=int(state["step"]) < planned["steps"],
    )
    payload["metadata"] = json.dumps(metadata)
    return atomic_torch_save(payload, run_dir / "policy.pt")


def _device_generator(cpu_gen: torch.Generator, device: torch.device) -> torch.Generator:
    """Noise comes from the CPU generator on CPU; on CUDA a CUDA generator seeded from it."""
    if device.type == "cpu":
        return cpu_gen
    seed = int(torch.randint(2**62, (1,), generator=cpu_gen).item())
    return torch.Generator(device=device).manual_seed(seed)


@torch.no_grad()
def _validation_loss(policy: DiffusionPolicy, batches: _Batches | None, cfg: TrainConfig) -> float:
    """Loss of the EMA policy on a fixed set of validation windows with fixed noise (smooth curves)."""
    if batches is None:
        return float("nan")
    policy.eval()
    gen = torch.Generator().manual_seed(12345)
    n = min(len(batches), cfg.val_windows)
    idx = torch.randperm(len(batches), generator=gen)[:n]
    total = 0.0
    for chunk in idx.split(512):
        obs, actions = batches.get(chunk, gen, train=False)
        total += policy.loss(
            obs, actions, generator=_device_generator(gen, batches.device)
        ).item() * len(chunk)
    return total / n


def _write_csv(history: list[dict[str, float]], path: Path) -> None:
    if not history:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(path)


def read_loss_csv(path: str | Path) -> dict[str, list[float]]:
    """Columns of a ``loss.csv`` as float lists (for the loss-curve figures)."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return {key: [float(r[key]) for r in rows] for key in (rows[0] if rows else {})}

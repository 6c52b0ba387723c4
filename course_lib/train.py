"""Training loop: AdamW, linear warm-up then cosine decay, EMA weights, checkpoints that resume exactly.

One optimisation step draws a batch of windows (observation history, action chunk), normalises them
and minimises the SDE's objective (paper Section 3.2, Algorithm 1; Eqs. 4, 6, 9). The EMA of the
weights, theta_ema <- d theta_ema + (1 - d) theta with d = min(d_max, (1 + n)/(10 + n)), is the
policy that gets evaluated and shipped.

A run directory holds ``checkpoint.pt`` (model, EMA, optimiser, scheduler, random state, history;
written atomically every ``ckpt_every`` steps, on Ctrl-C and on SIGTERM), ``loss.csv`` and, at the end,
``policy.pt`` (the EMA policy). Calling ``train`` again on the same directory resumes where it stopped
and gives the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from course_lib import config
from course_lib.data import (
    MinMaxNormalizer,
    load_pusht,
    make_windows,
    random_crop,
    render_dataset_images,
    split_episodes,
)
from course_lib.policy import (
    DiffusionPolicy,
    PolicyConfig,
    atomic_torch_save,
    read_checkpoint,
)

_TRAIN_FORMAT = "course_lib.TrainingCheckpoint"


@dataclass
class TrainConfig:
    """Optimisation settings (the course recipe is the default)."""

    steps: int = 6000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 300
    ema_decay: float = 0.999
    seed: int = 0
    val_fraction: float = 0.05
    val_every: int = 250
    val_windows: int = 2048
    ckpt_every: int = 500
    device: str = "auto"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "val_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


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
        self, idx: torch.Tensor, generator: torch.Generator | None, train: bool
    ) -> tuple[dict, torch.Tensor]:
        idx_dev = idx.to(self.device)
        obs = {"obs": self.obs[idx_dev]}
        if self.images is not None:
            frames = self.images[self.frame_index[idx]]  # (B, n_obs, H, W, 3) uint8
            frames = frames.permute(0, 1, 4, 2, 3).float() / 255.0
            if train:
                frames = random_crop(frames, 84, generator=generator)
            else:
                from course_lib.data import center_crop

                frames = center_crop(frames, 84)
            obs["images"] = frames.to(self.device)
        return obs, self.action[idx_dev]


def _fit_normalizers(windows) -> tuple[MinMaxNormalizer, MinMaxNormalizer]:
    return MinMaxNormalizer.fit(windows.obs), MinMaxNormalizer.fit(windows.action)


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
) -> TrainResult:
    """Train (or resume training of) a diffusion policy in ``run_dir``; returns the EMA policy.

    ``on_step(step, loss)`` is called after every optimisation step (used by notebooks and by the
    kill-and-resume test). Ctrl-C saves a checkpoint before re-raising.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = config.device(train_cfg.device)
    if train_cfg.num_threads:
        torch.set_num_threads(train_cfg.num_threads)
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
    obs_norm, act_norm = _fit_normalizers(train_windows)
    images = (
        torch.from_numpy(render_dataset_images(demos, size=96)) if policy_cfg.is_image else None
    )

    torch.manual_seed(train_cfg.seed)
    policy = DiffusionPolicy(policy_cfg, obs_norm, act_norm, metadata=metadata).to(device)
    ema = AveragedModel(
        policy,
        avg_fn=lambda avg, cur, n: (
            avg + (cur - avg) * (1.0 - ema_decay_at(int(n), train_cfg.ema_decay))
        ),
        use_buffers=True,
    )
    opt = torch.optim.AdamW(
        policy.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, train_cfg.warmup, train_cfg.steps)
    )
    gen = torch.Generator().manual_seed(train_cfg.seed)
    history: list[dict[str, float]] = []
    step, elapsed = 0, 0.0

    ckpt_path = run_dir / "checkpoint.pt"
    if resume and ckpt_path.exists():
        state = read_checkpoint(ckpt_path)
        if state.get("format") != _TRAIN_FORMAT:
            raise ValueError(f"{ckpt_path} is not a training checkpoint")
        saved_cfg = json.loads(state["policy"]["config"])
        if saved_cfg != dataclasses.asdict(policy.cfg):
            raise ValueError(
                f"{run_dir} holds a run with another policy config ({saved_cfg}); "
                "use another run directory or resume=False"
            )
        policy.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        history = json.loads(state["history"])
        step, elapsed = int(state["step"]), float(state["elapsed"])

    train_batches = _Batches(train_windows, obs_norm, act_norm, images, device)
    val_batches = (
        _Batches(val_windows, obs_norm, act_norm, images, device)
        if val_windows is not None
        else None
    )

    def save_checkpoint() -> None:
        ema_policy: DiffusionPolicy = ema.module
        ema_policy.metadata = policy.metadata
        atomic_torch_save(
            {
                "format": _TRAIN_FORMAT,
                "policy": ema_policy.checkpoint_payload(),
                "model": policy.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": gen.get_state(),
                "history": json.dumps(history),
                "step": step,
                "elapsed": elapsed,
                "train_config": json.dumps(dataclasses.asdict(train_cfg)),
            },
            ckpt_path,
        )
        _write_csv(history, run_dir / "loss.csv")

    previous_sigterm = _sigterm_as_interrupt()
    bar = tqdm(
        total=train_cfg.steps,
        initial=step,
        disable=not progress,
        desc=f"train {policy_cfg.sde}",
        file=sys.stdout,
        dynamic_ncols=True,
    )
    running, last_good = None, step
    t_start = time.perf_counter() - elapsed
    t_window, n_window = time.perf_counter(), 0
    try:
        while step < train_cfg.steps:
            policy.train()
            idx = torch.randint(len(train_batches), (train_cfg.batch_size,), generator=gen)
            obs, actions = train_batches.get(idx, gen, train=True)
            loss = policy.loss(obs, actions, generator=_device_generator(gen, device))
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"loss became {loss.item()} at step {step + 1}; the last good checkpoint "
                    f"(step {last_good}) is kept in {ckpt_path}. Lower --lr or check the data."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            opt.step()
            sched.step()
            ema.update_parameters(policy)
            step += 1
            n_window += train_cfg.batch_size
            value = loss.item()
            running = value if running is None else 0.98 * running + 0.02 * value
            if on_step is not None:
                on_step(step, value)
            if step % train_cfg.val_every == 0 or step == train_cfg.steps:
                now = time.perf_counter()
                rate = n_window / max(now - t_window, 1e-9)
                t_window, n_window = now, 0
                elapsed = now - t_start
                record = {
                    "step": step,
                    "train_loss": running,
                    "val_loss": _validation_loss(ema.module, val_batches, train_cfg),
                    "lr": sched.get_last_lr()[0],
                    "samples_per_s": rate,
                    "elapsed_s": elapsed,
                }
                history.append(record)
                bar.set_postfix(
                    loss=f"{running:.4g}", val=f"{record['val_loss']:.4g}", sps=f"{rate:.0f}"
                )
            if step % train_cfg.ckpt_every == 0 or step == train_cfg.steps:
                elapsed = time.perf_counter() - t_start
                save_checkpoint()
                last_good = step
            bar.update(1)
    except KeyboardInterrupt:
        if step > last_good:
            elapsed = time.perf_counter() - t_start
            save_checkpoint()
        bar.close()
        print(f"\ninterrupted at step {step}; checkpoint saved to {ckpt_path}", file=sys.stderr)
        raise
    finally:
        _restore_sigterm(previous_sigterm)
    bar.close()
    elapsed = time.perf_counter() - t_start
    final: DiffusionPolicy = ema.module.eval()
    final.metadata = {
        **(metadata or {}),
        "train_config": dataclasses.asdict(train_cfg),
        "train_seconds": round(elapsed, 1),
        "steps": step,
    }
    final.save(run_dir / "policy.pt")
    _write_csv(history, run_dir / "loss.csv")
    return TrainResult(final, history, run_dir, elapsed)


def export_policy(run_dir: str | Path) -> Path:
    """Write ``policy.pt`` from the EMA weights of an unfinished run's ``checkpoint.pt``.

    For runs stopped before their last step (time budget, Ctrl-C): the metadata records the step
    reached and the planned total, so a table built from it says so.
    """
    run_dir = Path(run_dir)
    state = read_checkpoint(run_dir / "checkpoint.pt")
    if state.get("format") != _TRAIN_FORMAT:
        raise ValueError(f"{run_dir / 'checkpoint.pt'} is not a training checkpoint")
    payload = dict(state["policy"])
    planned = json.loads(state["train_config"])
    metadata = json.loads(payload["metadata"])
    metadata.update(
        train_config=planned,
        steps=int(state["step"]),
        train_seconds=round(float(state["elapsed"]), 1),
        stopped_early=int(state["step"]) < planned["steps"],
    )
    payload["metadata"] = json.dumps(metadata)
    return atomic_torch_save(payload, run_dir / "policy.pt")


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _sigterm_as_interrupt():
    """Treat SIGTERM (kill, a scheduler's time limit) like Ctrl-C so a checkpoint is written."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


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

"""The training settings, the errors a run raises, and the schedules of a step: AdamW's learning
rate (linear warm-up, then cosine decay) and the EMA decay."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from course_lib.arguments import check_count
from course_lib.policy import DiffusionPolicy

#: TrainConfig fields that may change between a run and its resumption (they do not change the
#: numbers: where it runs, how often it is saved).
RESUMABLE_CHANGES = frozenset({"device", "num_threads", "ckpt_every", "channels_last"})


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

    ``mirror`` adds the mirror image of every training episode (reflection across the goal T's
    axis, ``course_lib.pusht.symmetry``): twice the demonstrations, the validation episodes
    unchanged.
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
    mirror: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "warmup", "val_every", "ckpt_every", "num_threads"):
            value = getattr(self, name)
            if value is not None or name in ("steps", "batch_size"):
                check_count(**{name: value})
        if not isinstance(self.mirror, bool):
            raise ValueError(f"mirror must be True or False, got {self.mirror!r}")
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

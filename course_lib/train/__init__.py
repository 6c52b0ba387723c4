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
validation and checkpoint intervals follow from that count; at the end of warm-up the count is
fitted again from the warm-up steps' own pace (``budget.WarmupRefit``). The fitted count and
warm-up are recorded, so ``steps`` and ``warmup`` from the metadata, without a budget, reproduce
the run exactly.

Under ``torchrun`` (``course_lib.distributed``) every rank draws the same global batch, times and
noise from the same seeded generator and trains on its own equal shard through
DistributedDataParallel, so the run equals a one-process run with the same batch and seed up to
rounding; rank 0 alone holds the lock, logs, validates, keeps the EMA and writes the run directory.

The package by job: :mod:`.config` (settings, schedules), :mod:`.batches` (what a step consumes),
:mod:`.run` (set-up and one step), :mod:`.budget` (wall-clock budgets), :mod:`.resume`
(checkpoints in and out), :mod:`.loop` (``train``), :mod:`.history` (``loss.csv``).
"""

from course_lib.train.batches import ShardLoss
from course_lib.train.config import (
    ResumeConflict,
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    ema_decay_at,
    lr_factor,
)
from course_lib.train.history import read_loss_csv
from course_lib.train.loop import train
from course_lib.train.resume import export_policy, set_aside

__all__ = [
    "ResumeConflict",
    "ShardLoss",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "ema_decay_at",
    "export_policy",
    "lr_factor",
    "read_loss_csv",
    "set_aside",
    "train",
]

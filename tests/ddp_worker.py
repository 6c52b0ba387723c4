"""A training run that ``tests/test_distributed.py`` starts under torchrun (and in-process, once).

``python -m torch.distributed.run --nproc-per-node 2 tests/ddp_worker.py RUN_DIR LOSSES [options]``
trains the tiny VP policy on 12 demonstrations and writes each rank's per-step losses to
``LOSSES.<rank>.json`` (also when interrupted). ``--stop-job-at K`` sends SIGTERM to the torchrun
agent after step K on rank 0, as a scheduler stopping the job would; ``--fail-at K --fail-rank R``
makes rank R raise after step K; ``--minutes M`` trains for a wall-clock budget instead of
``--steps``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

from course_lib.data import load_pusht
from course_lib.policy import PolicyConfig
from course_lib.train import TrainConfig, TrainResult, train

#: The message of the deliberate failure, which the job's output must show.
FAILURE = "rank {rank} fails on purpose after step {step}"


def configs(steps: int, minutes: float | None = None) -> tuple[PolicyConfig, TrainConfig]:
    """Tiny decoder, global batch 16 (8 per rank with two), checkpoints every 5 steps."""
    policy = PolicyConfig(sde="vp", decoder="tiny")
    train_cfg = TrainConfig(
        steps=steps,
        batch_size=16,
        lr=1e-3,
        warmup=2,
        val_every=2,
        ckpt_every=5,
        val_fraction=0.2,
        val_windows=32,
        device="cpu",
        num_threads=1,
        minutes=minutes,
    )
    return policy, train_cfg


def demos():
    return load_pusht().subset(range(12))


def stop_the_job_and_wait(limit_s: float = 60.0) -> None:
    """SIGTERM to the torchrun agent, then wait until the agent has passed SIGTERM on to this rank
    (so the ranks stop after this very step, as the single-process test stops after its own)."""
    arrived: list[int] = []
    training_handler = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame) -> None:
        arrived.append(signum)
        training_handler(signum, frame)

    signal.signal(signal.SIGTERM, handler)
    os.kill(os.getppid(), signal.SIGTERM)
    deadline = time.monotonic() + limit_s
    while not arrived and time.monotonic() < deadline:
        time.sleep(0.05)


def run(
    run_dir: Path,
    steps: int,
    losses: dict[int, float],
    stop_job_at: int | None = None,
    fail_at: int | None = None,
    fail_rank: int = 1,
    minutes: float | None = None,
) -> TrainResult:
    rank = int(os.environ.get("RANK", 0))

    def on_step(step: int, value: float) -> None:
        losses[step] = value
        if step == stop_job_at and rank == 0:
            stop_the_job_and_wait()
        if step == fail_at and rank == fail_rank:
            raise RuntimeError(FAILURE.format(rank=rank, step=step))

    policy_cfg, train_cfg = configs(steps, minutes)
    return train(policy_cfg, train_cfg, run_dir, demos=demos(), progress=False, on_step=on_step)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("losses", type=Path)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--stop-job-at", type=int, default=None)
    parser.add_argument("--fail-at", type=int, default=None)
    parser.add_argument("--fail-rank", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=None)
    args = parser.parse_args()
    losses: dict[int, float] = {}
    try:
        run(
            args.run_dir,
            args.steps,
            losses,
            args.stop_job_at,
            args.fail_at,
            args.fail_rank,
            args.minutes,
        )
    finally:
        out = args.losses.with_name(f"{args.losses.name}.{os.environ.get('RANK', 0)}.json")
        out.write_text(json.dumps(losses))


if __name__ == "__main__":
    main()

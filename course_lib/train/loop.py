"""The training loop: ``train`` sets the run up, resumes or starts it, then steps, logs, validates
and checkpoints until the last step (or a stop request), and writes the EMA policy."""

from __future__ import annotations

import copy
import dataclasses
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from course_lib import distributed
from course_lib.outputs import ensure_writable_dir
from course_lib.policy import DiffusionPolicy, PolicyConfig
from course_lib.run_lock import RunLock
from course_lib.train.batches import validation_loss
from course_lib.train.budget import WarmupRefit
from course_lib.train.config import TrainConfig, TrainingDiverged, TrainResult
from course_lib.train.history import write_csv
from course_lib.train.resume import clean_leftovers, start
from course_lib.train.run import Run


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
                clean_leftovers(run_dir, fresh=not resume)
            run = Run(policy_cfg, train_cfg, run_dir, demos, metadata, group)
            budget = start(run, policy_cfg, train_cfg, resume, t_call)
            refit = None
            if budget and run.step == 0:  # a fresh budget run (a resumed one keeps its count)
                refit = WarmupRefit(run, budget, t_call)
            return loop(run, progress and group.is_main, on_step, on_record, budget, refit)


class StopRequest:
    """SIGINT/SIGTERM set a flag that the loop reads between steps (the step in flight finishes,
    is logged and checkpointed); a second signal interrupts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt(f"signal {signum} (second request)")
        self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def loop(
    run: Run,
    progress: bool,
    on_step: Callable[[int, float], None] | None,
    on_record: Callable[[dict[str, float]], None] | None,
    budget: dict[str, float],
    refit: WarmupRefit | None = None,
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
        with StopRequest() as stop:
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
                if refit is not None and refit(run):
                    cfg = run.cfg
                    bar.total = cfg.steps
                    bar.refresh()
                    if batches is not None:  # the stream ends at the old count: draw on from here
                        batches.close()
                        batches = run.batch_stream(cfg.seed, run.step, cfg.steps)
                n_window += cfg.batch_size
                run.running = value if run.running is None else 0.98 * run.running + 0.02 * value
                now = time.perf_counter()
                run.elapsed = now - t_start
                if main and (run.step % cfg.val_every == 0 or run.step == cfg.steps):
                    record = {
                        "step": run.step,
                        "train_loss": run.running,
                        "val_loss": validation_loss(run.ema.module, run.val_batches, cfg),
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
    return finish(run, cfg)


def finish(run: Run, cfg: TrainConfig) -> TrainResult:
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
        write_csv(run.history, run.run_dir / "loss.csv")
    if run.group.is_distributed:  # also the barrier: no rank returns before policy.pt exists
        shared = run.group.broadcast(
            (final.state_dict(), final.metadata, run.history) if run.group.is_main else None
        )
        if not run.group.is_main:
            final = copy.deepcopy(run.policy).eval()
            final.load_state_dict(shared[0])
            final.metadata, run.history = shared[1], shared[2]
    return TrainResult(final, run.history, run.run_dir, run.elapsed)

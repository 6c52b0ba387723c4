"""Wall-clock budgets: measure the throughput, then fix the step count to fit the budget."""

from __future__ import annotations

import dataclasses
import time

from course_lib.train.config import TrainConfig
from course_lib.train.run import Run


def fit_to_budget(
    run: Run, train_cfg: TrainConfig, t_call: float
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

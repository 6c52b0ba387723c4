"""Wall-clock budgets: measure the throughput, fix the step count to fit the budget, then fit it
once more from the warm-up steps themselves."""

from __future__ import annotations

import dataclasses
import time

from course_lib.train.config import TrainConfig
from course_lib.train.run import Run

#: Share of the time left that the fitted steps fill: the rest covers validation rows and checkpoints.
_STEP_SHARE = 0.97


def fit_to_budget(
    run: Run, train_cfg: TrainConfig, t_call: float
) -> tuple[TrainConfig, dict[str, float]]:
    """Measure the throughput, then fix ``steps`` so that the whole call takes ``minutes``.

    steps = rate x (budget - set-up - measurement) x 0.97 / batch, the 3 % covering validation
    rows and checkpoints. ``WarmupRefit`` corrects the count at the end of warm-up.
    """
    budget_s = 60.0 * train_cfg.minutes
    probe_s = min(8.0, 0.05 * budget_s)
    rate = run.measure_throughput(probe_s)
    # rank 0's figures for all: every rank then fits the same step count (or raises the same error)
    rate, left = run.group.broadcast((rate, budget_s - (time.perf_counter() - t_call)))
    steps = int(_STEP_SHARE * rate * left / train_cfg.batch_size)
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


class WarmupRefit:
    """Fits the step count of a budget run again when its warm-up ends, from the warm-up's own pace.

    The probe of ``fit_to_budget`` times a few seconds on a copy of the model; a machine whose speed
    then changes (other jobs, clocks) would run the fitted steps in more or less time than the
    budget. At the end of warm-up (step W) the run has trained W steps in s seconds, so
    steps = W + rate_W x (time left) x 0.97 / batch with rate_W = W x batch / s. The learning rate
    up to W does not depend on the total (linear warm-up to its peak, which the cosine starts
    from), so the run equals one started with the new count and the same warm-up: ``steps`` and
    ``warmup`` from its metadata reproduce it. Fresh runs only; a resumed run keeps the count its
    checkpoint holds.
    """

    def __init__(self, run: Run, budget: dict[str, float], t_call: float) -> None:
        """``budget``: what ``fit_to_budget`` recorded (updated in place by the re-fit);
        ``t_call``: when the ``train`` call started, the budget's origin."""
        self.at = run.cfg.warmup
        self.budget = budget
        self.deadline = t_call + 60.0 * budget["minutes"]
        self.started = time.perf_counter()

    def __call__(self, run: Run) -> bool:
        """After step ``run.step``: at the end of warm-up, set ``run.cfg.steps`` from the pace of
        the warm-up and record it in the budget; True if the count was fitted."""
        if run.step != self.at:
            return False
        now = time.perf_counter()
        rate = run.step * run.cfg.batch_size / max(now - self.started, 1e-9)
        rate, left = run.group.broadcast((rate, self.deadline - now))
        steps = run.step + max(0, int(_STEP_SHARE * rate * left / run.cfg.batch_size))
        self.budget.update(
            probe_steps=self.budget["fitted_steps"],
            warmup_samples_per_s=round(rate, 1),
            fitted_steps=steps,
        )
        run.cfg = dataclasses.replace(run.cfg, steps=steps)
        return True

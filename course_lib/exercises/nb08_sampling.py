"""Exercises of notebook 08: the normalised action space, an Euler step, the cost of Heun."""

from __future__ import annotations

import numpy as np
import torch

from course_lib import solvers
from course_lib.data import MinMaxNormalizer
from course_lib.exercises import code_check as cc
from course_lib.exercises import vp_toy as toy_vp
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, NumberExercise
from course_lib.exercises.registry import register

_LOW = torch.tensor([12.0, 30.0])
_HIGH = torch.tensor([500.0, 480.0])


def normalize(x, low, high):
    """Per-feature map of [low, high] onto [-1, 1]: 2 (x - low) / (high - low) - 1."""
    return 2.0 * (x - low) / (high - low) - 1.0


@cc.tester
def _test_normalize(fn) -> None:
    """Where low and high land, then random points against ``data.MinMaxNormalizer``."""
    ends = cc.array(cc.run(fn, torch.stack([_LOW, _HIGH]), _LOW.clone(), _HIGH.clone()), (2, 2))
    if not np.allclose(ends, [[-1.0, -1.0], [1.0, 1.0]], atol=1e-6):
        raise cc.Failed(
            f"your map sends low to {ends[0].round(4).tolist()} and high to "
            f"{ends[1].round(4).tolist()}; the course normalises onto [-1, 1] "
            "(low -> -1, high -> 1)."
        )
    x = torch.rand(50, 2, generator=torch.Generator().manual_seed(0)) * 600.0
    want = MinMaxNormalizer(_LOW, _HIGH).normalize(x).numpy()
    got = cc.array(cc.run(fn, x.clone(), _LOW.clone(), _HIGH.clone()), want.shape)
    cc.fail_if(cc.mismatch(got, want, "Your normalised points", rtol=1e-5))


normaliser = CodeExercise(
    id="08.minmax-normalise",
    title="The min-max normaliser",
    statement=(
        "Write `normalize(x, low, high)` mapping each feature (last dimension) of `x` from "
        "[low, high] onto [-1, 1], as the policy does with its targets (torch tensors)."
    ),
    hints=("An affine map per feature: low -> -1, high -> +1.",),
    reference=normalize,
    tester=_test_normalize,
    success="your map matches `data.MinMaxNormalizer`",
    mistakes=(
        Mistake(lambda x, lo, hi: (x - lo) / (hi - lo), "", expect="[-1, 1]"),
        Mistake(lambda x, lo, hi: 2.0 * (hi - x) / (hi - lo) - 1.0, "", expect="low -> -1"),
        Mistake(lambda x, lo, hi: (x - (hi + lo) / 2) / (hi - lo) * 2.1, "", expect="[-1, 1]"),
    ),
)


def euler_pf_step(x, t, t_next, score):
    """Probability-flow Euler for VP: x + (t' - t)(-beta/2 x - beta/2 score)."""
    beta = float(toy_vp.VP.beta(t))
    return x + (t_next - t) * (-0.5 * beta * x - 0.5 * beta * score)


@cc.tester
def _test_euler_pf_step(fn) -> None:
    """Against ``solvers.ode_euler_step``; on a mismatch, the measured order on the exact toy."""
    gen = torch.Generator().manual_seed(0)
    x, s = (torch.randn(8, 2, generator=gen, dtype=torch.float64) for _ in range(2))
    t, t_next = 0.6, 0.55
    got = cc.array(cc.run(fn, x.clone(), t, t_next, s.clone()), x.shape)
    want = solvers.ode_euler_step(toy_vp.VP, lambda *_: s, x, t, t_next).numpy()
    if cc.mismatch(got, want, "") is None:
        return

    def step(xs, a, b):
        score = toy_vp.SCORE(xs, torch.full((xs.shape[0],), a, dtype=xs.dtype))
        return cc.run(fn, xs, a, b, score)

    measured = toy_vp.ode_order(step)
    findings = [
        cc.order_problem(measured, 1.0, "your step") or "",
        cc.mismatch(got, want, "Your step"),
    ]
    zeros = torch.zeros(1, 1, dtype=torch.float64)
    score_coef = float(cc.array(cc.run(fn, zeros, t, t_next, zeros + 1), (1, 1))[0, 0])
    beta = float(toy_vp.VP.beta(t))
    if abs(score_coef - (-beta * (t_next - t))) < 1e-9:
        findings.append("Your score term is g^2 score: the probability-flow ODE has g^2 score / 2.")
    raise cc.Failed(" ".join(f for f in findings if f))


euler_step = CodeExercise(
    id="08.vp-euler-pf-step",
    title="One Euler step of the probability-flow ODE",
    statement=(
        "Write `euler_pf_step(x, t, t_next, score)` for the course's VP SDE `vp = sdes.get('vp')`: "
        "one Euler step of dx/dt = f - g^2 score / 2 from t to t_next, given the score at (x, t) "
        "(tensors of x's shape). `vp.beta(t)` gives beta(t)."
    ),
    hints=("f = -beta x / 2, g^2 = beta; the step is x + (t_next - t) * velocity.",),
    reference=euler_pf_step,
    tester=_test_euler_pf_step,
    success="your step matches `solvers.ode_euler_step`, first order",
    mistakes=(
        Mistake(
            lambda x, t, tn, s: (
                x + (tn - t) * (-0.5 * float(toy_vp.VP.beta(t)) * x - float(toy_vp.VP.beta(t)) * s)
            ),
            "",
            expect="g^2 score / 2",
        ),
        Mistake(
            lambda x, t, tn, s: x - (tn - t) * (-0.5 * float(toy_vp.VP.beta(t)) * (x + s)),
            "",
            expect="order",
        ),
        Mistake(
            lambda x, t, tn, s: x + (tn - t) * (-0.5 * float(toy_vp.VP.beta(t)) * x),
            "",
            expect="order",
        ),
    ),
)

heun_cost = NumberExercise(
    id="08.heun-evaluations",
    title="What Heun costs",
    statement=(
        "How many network evaluations does the course's Heun sampler make for one VP chunk with "
        "N = 25 steps (`solvers.ode_heun_step` evaluates the velocity at the start and at the "
        "predicted point of every step)?"
    ),
    hints=("Count the velocity calls of one step, then multiply.",),
    value=50.0,
    mistakes=(
        Mistake(25.0, "Each Heun step evaluates the network twice."),
        Mistake(
            49.0,
            "2N - 1 is EDM's count, whose last step is an Euler step; VP's Heun steps "
            "all have a corrector.",
        ),
        Mistake(26.0, "N steps, two evaluations each."),
    ),
)

register(normaliser, euler_step, heun_cost)

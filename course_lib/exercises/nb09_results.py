"""Exercises of notebook 09: the protocol's score and the noise in a 50-episode estimate."""

from __future__ import annotations

import numpy as np
import sympy as sp

from course_lib.exercises import code_check as cc
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, SymbolicExercise
from course_lib.exercises.registry import register
from course_lib.exercises.sympy_compare import Domain


def mean_score(rewards):
    """The protocol's score: per episode the maximum reward, then the mean over episodes."""
    return float(np.asarray(rewards, dtype=np.float64).max(axis=1).mean())


def _rewards() -> np.ndarray:
    """Three episodes where the max, the final value and the per-step mean all differ."""
    return np.array(
        [
            [0.1, 0.9, 0.4, 0.2],
            [0.0, 0.2, 0.3, 0.7],
            [0.6, 0.1, 0.0, 0.0],
        ]
    )


_NAMED = {
    "the mean of the final rewards": lambda r: r[:, -1].mean(),
    "the largest per-step mean over episodes": lambda r: r.mean(axis=0).max(),
    "the mean of all rewards": lambda r: r.mean(),
    "the largest reward of all": lambda r: r.max(),
}


@cc.tester
def _test_mean_score(fn) -> None:
    """On a designed table and a random one; names the other statistics it may have computed."""
    tables = (_rewards(), np.random.default_rng(0).uniform(size=(50, 30)))
    for rewards in tables:
        got = cc.array(cc.run(fn, rewards.copy()))
        if got.size != 1:
            raise cc.Failed(f"your function returned shape {got.shape}; expected one number.")
        got, want = float(got.reshape(())), mean_score(rewards)
        if abs(got - want) <= 1e-9:
            continue
        named = next((name for name, f in _NAMED.items() if abs(f(rewards) - got) <= 1e-9), None)
        what = f" That is {named}." if named else ""
        raise cc.Failed(
            f"on a table of shape {rewards.shape} your score is {got:.4g}, the "
            f"protocol's is {want:.4g}.{what}"
        )


score = CodeExercise(
    id="09.mean-score",
    title="The protocol's score",
    statement=(
        "Write `mean_score(rewards)` for a numpy array `rewards` of shape (episodes, steps): per "
        "episode the maximum reward, then the mean over the episodes."
    ),
    hints=("Reduce over the steps (axis 1) first, then over the episodes.",),
    reference=mean_score,
    tester=_test_mean_score,
    success="your score is the protocol's",
    mistakes=(
        Mistake(lambda r: r[:, -1].mean(), "", expect="final"),
        Mistake(lambda r: r.mean(axis=0).max(), "", expect="per-step"),
        Mistake(lambda r: r.max(axis=1), "", expect="shape"),
    ),
)

p = sp.Symbol("p", positive=True)
n = sp.Symbol("n", positive=True, integer=True)

standard_error = SymbolicExercise(
    id="09.success-standard-error",
    title="How noisy is a success rate over n episodes?",
    statement=(
        "Each of n independent episodes succeeds with probability p (0 < p < 1). Give the "
        "standard error of the observed success rate, an expression in `p` and `n` (a positive "
        "integer)."
    ),
    hints=(
        "The number of successes is binomial: variance n p (1 - p). Divide by n, then take the "
        "square root.",
    ),
    domain=Domain((p, n), {"p": (0.05, 0.95), "n": (10, 200)}, main="n"),
    reference=lambda: sp.sqrt(p * (1 - p) / n),
    equivalents=(sp.sqrt(p - p**2) / sp.sqrt(n), sp.sqrt(n * p * (1 - p)) / n),
    mistakes=(
        Mistake(p * (1 - p) / n, "That is the variance; the standard error is its square root."),
        Mistake(
            2 * sp.sqrt(p * (1 - p) / n),
            "Twice the standard error is roughly the half-width of "
            "a 95% interval, not the standard error.",
        ),
        Mistake(sp.sqrt(p * (1 - p)) / n, "Var(successes / n) = n p (1 - p) / n^2."),
        Mistake(-sp.sqrt(p * (1 - p) / n), "A standard error is positive."),
    ),
)

register(score, standard_error)

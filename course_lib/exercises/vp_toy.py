"""The VP toy the solver exercises are measured on: N(0, 0.5^2) data, whose score is exact.

Every probability-flow step is linear in x there, so the global error of a student's step is
measured without sampling noise: x(t_eps) = sqrt(v(t_eps) / v(t_0)) x(t_0), v(t) = Var x_t. For
a step that is affine in (x, z) (Euler-Maruyama) the variance follows v' = a^2 v + b^2 exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from course_lib import sdes, solvers, toy
from course_lib.exercises import code_check as cc

VP = sdes.get("vp")
DATA = toy.gaussian_1d(0.5)
SCORE = DATA.score_fn(VP)
#: Integrate from here (not from T = 0.9946, where beta = 370 makes coarse grids meaningless).
T_START = 0.9
ODE_STEPS = (8, 16, 32, 64)
SDE_STEPS = (16, 32, 64, 128)


def velocity(x: Tensor, t: float) -> Tensor:
    """The VP probability-flow velocity F(x, t) = f - g^2 score / 2 with the exact score."""
    return solvers.ode_velocity(VP, SCORE, x, float(t))


def variance(t: float) -> float:
    """Var x_t = m(t)^2 0.25 + std(t)^2."""
    return float(DATA.state_covariance(VP, t)[0, 0, 0])


def _times(n: int) -> list[float]:
    return torch.linspace(T_START, VP.t_eps, n + 1, dtype=torch.float64).tolist()


def ode_order(step: Callable[[Tensor, float, float], Tensor]) -> float:
    """Measured global order of ``step(x, t, t_next)`` from T_START to t_eps."""
    exact = (variance(VP.t_eps) / variance(T_START)) ** 0.5
    errors = []
    for n in ODE_STEPS:
        x = torch.ones(1, 1, dtype=torch.float64)
        times = _times(n)
        for t, t_next in zip(times[:-1], times[1:], strict=True):
            x = torch.as_tensor(step(x, t, t_next), dtype=torch.float64)
        errors.append(abs(float(cc.array(x, (1, 1))[0, 0]) - exact))
    return cc.order(ODE_STEPS, errors)


def weak_order(coefficients: Callable[[float, float], tuple[float, float]]) -> float:
    """Measured weak order of an affine step x' = a x + b z, ``coefficients(t, t_next) = (a, b)``
    with the exact score substituted, from the relative error of the final variance."""
    errors = []
    for n in SDE_STEPS:
        var = variance(T_START)
        times = _times(n)
        for t, t_next in zip(times[:-1], times[1:], strict=True):
            a, b = coefficients(t, t_next)
            var = a * a * var + b * b
        errors.append(abs(var / variance(VP.t_eps) - 1))
    return cc.order(SDE_STEPS, errors)

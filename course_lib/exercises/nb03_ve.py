"""Exercises of notebook 03: the VE schedule, its exact kernel, and why Euler in t fails."""

from __future__ import annotations

import math

import sympy as sp
import torch

from course_lib import sdes
from course_lib.exercises import code_check as cc
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, NumberExercise, SymbolicExercise
from course_lib.exercises.registry import register
from course_lib.exercises.sympy_compare import Domain

sigma_min, sigma_max, big_l, h = sp.symbols("sigma_min sigma_max L h", positive=True)
t = sp.Symbol("t", nonnegative=True)
_RANGES = {"sigma_min": (0.01, 0.5), "sigma_max": (2.0, 50.0), "t": (0.02, 1.0)}
_VE_DOMAIN = Domain((sigma_min, sigma_max, t), _RANGES, main="t")


def _sigma(time=t):
    return sigma_min * (sigma_max / sigma_min) ** time


ve_g2 = SymbolicExercise(
    id="03.ve-g2",
    title="g(t)^2 of the geometric schedule",
    statement=(
        "For sigma(t) = sigma_min (sigma_max / sigma_min)^t, compute g(t)^2 = d sigma(t)^2 / dt as "
        "an expression in `sigma_min`, `sigma_max` (positive) and `t` (t >= 0)."
    ),
    hints=(
        "sigma^2 = sigma_min^2 exp(2 t log(sigma_max / sigma_min)).",
        "`sp.diff((sigma_min * (sigma_max / sigma_min)**t)**2, t)`.",
    ),
    domain=_VE_DOMAIN,
    reference=lambda: 2 * sp.log(sigma_max / sigma_min) * _sigma() ** 2,
    equivalents=(
        sp.diff(_sigma() ** 2, t),
        2
        * (sp.log(sigma_max) - sp.log(sigma_min))
        * sigma_min**2
        * sp.exp(2 * t * sp.log(sigma_max / sigma_min)),
    ),
    mistakes=(
        Mistake(sp.log(sigma_max / sigma_min) * _sigma() ** 2, "d/dt of sigma^2 brings down 2 L."),
        Mistake(2 * sp.log(sigma_max / sigma_min) * _sigma(), "Differentiate sigma^2, not sigma."),
        Mistake(2 * _sigma() ** 2, "d/dt a^t = a^t log a."),
        Mistake(2 * sp.log(sigma_min / sigma_max) * _sigma() ** 2, "sigma grows with t."),
    ),
)

ve_kernel_variance = SymbolicExercise(
    id="03.ve-kernel-variance",
    title="The exact VE kernel variance",
    statement=(
        "The VE SDE da = g(t) dW starts at a_0 at t = 0 with the geometric schedule. Give "
        "Var(a_t | a_0) as an expression in `sigma_min`, `sigma_max` and `t`."
    ),
    hints=(
        "By Ito's isometry, Var = int_0^t g(r)^2 dr = sigma(t)^2 - sigma(0)^2.",
        "What is sigma(0) for the geometric schedule?",
    ),
    domain=_VE_DOMAIN,
    reference=lambda: _sigma() ** 2 - sigma_min**2,
    equivalents=(
        sigma_min**2 * ((sigma_max / sigma_min) ** (2 * t) - 1),
        sp.integrate(
            2 * sp.log(sigma_max / sigma_min) * _sigma(sp.Symbol("r")) ** 2, (sp.Symbol("r"), 0, t)
        ),
    ),
    mistakes=(
        Mistake(
            _sigma() ** 2,
            "sigma(t)^2 is the paper's variance: it assumes sigma(0) = 0. Is that true here?",
        ),
        Mistake(_sigma() ** 2 + sigma_min**2, "The variance at t = 0 must be 0."),
        Mistake(
            sigma_min**2 * ((sigma_max / sigma_min) ** t - 1),
            "sigma^2 grows like (sigma_max / sigma_min)^(2t).",
        ),
        Mistake(sigma_min**2 - _sigma() ** 2, "A variance is positive."),
    ),
)

ve_exact_factor = SymbolicExercise(
    id="03.ve-exact-factor",
    title="The exact contraction of one backward step",
    statement=(
        "With the denoiser D frozen, the VE probability-flow ODE in reversed time is "
        "d(x - D)/dh = -L (x - D). By which factor does the exact flow multiply x - D over a "
        "backward step of size h? An expression in `L` and `h` (positive)."
    ),
    hints=(
        "z' = -L z with z(0) = 1 is solved by sp.dsolve, or by hand.",
        "Euler would give 1 - L h; the exact flow is the exponential it approximates.",
    ),
    domain=Domain((big_l, h), {"L": (0.5, 10.0), "h": (0.01, 1.0)}, main="h"),
    reference=lambda: sp.exp(-big_l * h),
    equivalents=(1 / sp.exp(big_l * h), sp.exp(-big_l) ** h),
    mistakes=(
        Mistake(1 - big_l * h, "1 - L h is Euler's factor, the first two terms of the exact one."),
        Mistake(sp.exp(big_l * h), "x - D shrinks: the noise is removed."),
        Mistake(sp.exp(-big_l * h / 2), "The rate is L itself, not L / 2."),
    ),
)

_L = math.log(50.0 / 0.01)

overshoot = NumberExercise(
    id="03.ve-euler-min-steps",
    title="How many Euler steps before Euler stops overshooting",
    statement=(
        "With sigma_min = 0.01, sigma_max = 50 and N uniform steps on [0, 1] (h = 1/N), Euler's "
        "factor 1 - L h is negative (it overshoots the denoised point) when L h > 1. What is the "
        "smallest N for which it does not overshoot? A whole number."
    ),
    hints=("L = ln(sigma_max / sigma_min) = ln 5000; you need L / N <= 1.",),
    value=float(math.ceil(_L)),
    mistakes=(
        Mistake(float(math.floor(_L)), "Round up: N = 8 still has L / N > 1."),
        Mistake(
            float(math.ceil(_L / 2)),
            "L h > 2 is where Euler diverges; overshooting starts at L h > 1.",
        ),
        Mistake(1.0, "L = ln 5000 is about 8.5."),
    ),
)

_VE = sdes.get("ve")
_N_DRAWS = 200_000


def ve_sample(x0, t, generator):
    """x_t = x_0 + sqrt(sigma(t)^2 - sigma_min^2) z with z ~ N(0, I) from ``generator``."""
    z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return x0 + float(_VE.std(t)) * z


@cc.tester
def _test_ve_sample(fn) -> None:
    """Shape, reproducibility with the given generator, then the mean and the variance."""
    x0 = torch.full((_N_DRAWS, 1), 2.0, dtype=torch.float64)
    for t in (0.05, 0.1, 0.3):
        draws = [cc.run(fn, x0.clone(), t, torch.Generator().manual_seed(7)) for _ in range(2)]
        first, second = (cc.array(d, x0.shape) for d in draws)
        if not (first == second).all():
            raise cc.Failed(
                "two calls with generators of the same seed gave different draws: "
                "draw the noise with the generator you are given."
            )
        exact = float(_VE.std(t)) ** 2
        paper = float(_VE.sigma(t)) ** 2
        mean_err = abs(first.mean() - 2.0) / math.sqrt(exact / _N_DRAWS)
        if mean_err > 6:
            raise cc.Failed(
                f"at t = {t} the mean of your draws is {first.mean():.5g}; the kernel's "
                "mean is a_0 (the VE SDE has no drift)."
            )
        var = first.var()
        if abs(var / exact - 1) > 0.03:
            hint = (
                " That is sigma(t)^2, the paper's variance, which assumes sigma(0) = 0."
                if abs(var / paper - 1) < 0.03
                else ""
            )
            raise cc.Failed(
                f"at t = {t} the variance of your draws is {var:.4g}, the exact kernel "
                f"variance is {exact:.4g}.{hint}"
            )


ve_sampler = CodeExercise(
    id="03.ve-kernel-sampler",
    title="Draw from the exact VE kernel",
    statement=(
        "Write `ve_sample(x0, t, generator)` returning draws of a_t | a_0 = x0 for the course's VE "
        "SDE `ve = sdes.get('ve')` (x0 a float64 tensor, t a float; draw the noise with "
        "`torch.randn(..., generator=generator)`). `ve.sigma(t)` and `ve.sigma_min` are there."
    ),
    hints=("a_t = a_0 + sqrt(Var) z with the variance of exercise 03.ve-kernel-variance.",),
    reference=ve_sample,
    tester=_test_ve_sample,
    success="your draws have the exact kernel's mean and variance (200 000 draws, 3% on the variance)",
    mistakes=(
        Mistake(
            lambda x0, t, g: (
                x0 + float(_VE.sigma(t)) * torch.randn(x0.shape, generator=g, dtype=x0.dtype)
            ),
            "",
            expect="paper",
        ),
        Mistake(
            lambda x0, t, g: (
                x0 + float(_VE.std(t)) ** 2 * torch.randn(x0.shape, generator=g, dtype=x0.dtype)
            ),
            "",
            expect="variance",
        ),
        Mistake(
            lambda x0, t, g: x0 + float(_VE.std(t)) * torch.randn(x0.shape, dtype=x0.dtype),
            "",
            expect="generator",
        ),
    ),
)

register(ve_g2, ve_kernel_variance, ve_exact_factor, overshoot, ve_sampler)

"""Exercises of notebook 02: the DDPM limit, the VP kernel, the denoiser, the cosine schedule."""

from __future__ import annotations

import sympy as sp
import torch

from course_lib import sdes
from course_lib.exercises import code_check as cc
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, SymbolicExercise
from course_lib.exercises.registry import register
from course_lib.exercises.sympy_compare import Domain

beta, b_min, b_max, s = sp.symbols("beta beta_min beta_max s", positive=True)
x, eps = sp.symbols("x epsilon", real=True)
t = sp.Symbol("t", nonnegative=True)
abar = sp.Symbol("abar", positive=True)

h = sp.Symbol("h", positive=True)
a_t = sp.Symbol("a_t", real=True)

ddpm_second_order = SymbolicExercise(
    id="02.ddpm-second-order",
    title="The next term of the DDPM factor",
    statement=(
        "sqrt(1 - beta h) = 1 - beta h / 2 + c h^2 + O(h^3). Find c, an expression in `beta` "
        "(positive). It is the size of the O(h^2) error that makes the DDPM chain first order."
    ),
    hints=(
        "(1 + u)^(1/2) = 1 + u/2 - u^2/8 + ..., with u = -beta h.",
        "`sp.series(sp.sqrt(1 - beta * h), h, 0, 3)`.",
    ),
    domain=Domain((beta,), {"beta": (0.1, 20.0)}),
    reference=lambda: -(beta**2) / 8,
    equivalents=(
        -sp.Rational(1, 8) * beta * beta,
        sp.diff(sp.sqrt(1 - beta * h), h, 2).subs(h, 0) / 2,
    ),
    mistakes=(
        Mistake(beta**2 / 8, "The second-order term of sqrt(1 + u) is negative."),
        Mistake(-(beta**2) / 4, "(1 + u)^(1/2) has the coefficient (1/2)(-1/2)/2 = -1/8 at u^2."),
        Mistake(-beta / 8, "u = -beta h, so u^2 = beta^2 h^2."),
    ),
)

vp_kernel_variance = SymbolicExercise(
    id="02.vp-kernel-variance",
    title="The VP kernel variance for the linear schedule",
    statement=(
        "For the linear schedule beta(t) = beta_min + (beta_max - beta_min) t (both positive, "
        "t >= 0), give Var(a_t | a_0) of the VP SDE as an expression in `beta_min`, `beta_max` "
        "and `t`."
    ),
    hints=(
        "Var = 1 - abar(t) with abar(t) = exp(-int_0^t beta(r) dr).",
        "int_0^t (beta_max - beta_min) r dr = (beta_max - beta_min) t^2 / 2.",
    ),
    domain=Domain(
        (b_min, b_max, t),
        {"beta_min": (0.05, 1.0), "beta_max": (5.0, 20.0), "t": (0.02, 1.0)},
        main="t",
    ),
    reference=lambda: 1 - sp.exp(-(b_min * t + (b_max - b_min) * t**2 / 2)),
    equivalents=(
        1 - sp.exp(-b_min * t) * sp.exp(-(b_max - b_min) * t**2 / 2),
        1 - 1 / sp.exp(b_min * t + (b_max - b_min) * t**2 / 2),
        1 - sp.exp(-t * (b_min + b_max) / 2 - (b_max - b_min) * (t**2 - t) / 2),
    ),
    mistakes=(
        Mistake(
            1 - sp.exp(-(b_min * t + (b_max - b_min) * t**2 / 2) / 2),
            "exp(-B/2) is the mean coefficient sqrt(abar); the variance uses abar = exp(-B).",
        ),
        Mistake(
            1 - sp.exp(-(b_min * t + (b_max - b_min) * t / 2)),
            "Integrate r from 0 to t: it gives t^2 / 2, not t / 2.",
        ),
        Mistake(
            1 - sp.exp(-(b_min + (b_max - b_min) * t) * t),
            "beta(t) t is not int_0^t beta(r) dr when beta changes with time.",
        ),
        Mistake(
            sp.exp(-(b_min * t + (b_max - b_min) * t**2 / 2)) - 1,
            "A variance is positive, and 1 - abar(t) starts at 0.",
        ),
    ),
)

vp_denoiser = SymbolicExercise(
    id="02.vp-denoiser",
    title="Back from the noise",
    statement=(
        "With a_t = sqrt(abar) a_0 + sqrt(1 - abar) epsilon, express a_0 through `a_t`, `epsilon` "
        "(real) and `abar` (0 < abar < 1). With a predicted epsilon it is the denoised guess the "
        "samplers end with."
    ),
    hints=("Solve the reparameterisation for a_0.",),
    domain=Domain((a_t, eps, abar), {"abar": (0.05, 0.95)}),
    reference=lambda: (a_t - sp.sqrt(1 - abar) * eps) / sp.sqrt(abar),
    equivalents=(
        a_t / sp.sqrt(abar) - sp.sqrt(1 / abar - 1) * eps,
        sp.solve(sp.Eq(a_t, sp.sqrt(abar) * x + sp.sqrt(1 - abar) * eps), x)[0],
    ),
    mistakes=(
        Mistake(
            (a_t - sp.sqrt(1 - abar) * eps) / abar, "Divide by the mean coefficient sqrt(abar)."
        ),
        Mistake(
            (a_t - (1 - abar) * eps) / sp.sqrt(abar),
            "The noise enters with the std sqrt(1 - abar).",
        ),
        Mistake(
            (a_t + sp.sqrt(1 - abar) * eps) / sp.sqrt(abar), "Subtract the noise, do not add it."
        ),
    ),
)

_u0 = s * sp.pi / (2 * (1 + s))

cosine_endpoint = SymbolicExercise(
    id="02.cosine-endpoint-constant",
    title="How abar vanishes at t = 1",
    statement=(
        "For the cosine schedule abar(t) = cos^2 u(t) / cos^2 u(0), u(t) = (t + s)/(1 + s) pi/2, "
        "abar(t) ~ c (1 - t)^2 as t -> 1. Find c, an expression in `s` (positive)."
    ),
    hints=(
        "u(1) = pi/2 and cos(pi/2 - e) = sin(e) ~ e.",
        "`sp.limit(abar.subs(t, 1 - e) / e**2, e, 0)` with e = 1 - t.",
    ),
    domain=Domain((s,), {"s": (0.001, 0.5)}),
    reference=lambda: (sp.pi / (2 * (1 + s))) ** 2 / sp.cos(_u0) ** 2,
    equivalents=(
        sp.pi**2 / (4 * (1 + s) ** 2 * sp.cos(_u0) ** 2),
        (sp.pi / (2 + 2 * s)) ** 2 * (1 + sp.tan(_u0) ** 2),
    ),
    mistakes=(
        Mistake(
            (sp.pi / (2 * (1 + s))) / sp.cos(_u0) ** 2,
            "abar holds cos squared: square the slope too.",
        ),
        Mistake((sp.pi / (2 * (1 + s))) ** 2, "Do not drop the normalisation cos^2 u(0)."),
        Mistake((sp.pi / (1 + s)) ** 2 / sp.cos(_u0) ** 2, "u'(t) = pi / (2 (1 + s))."),
    ),
)

_VP = sdes.get("vp")


def vp_perturb(x0, t, eps):
    """a_t = sqrt(abar(t)) a_0 + sqrt(1 - abar(t)) eps (the reparameterised VP kernel)."""
    mean, std = _VP.marginal(x0, t)
    return mean + std * eps


@cc.tester
def _test_vp_perturb(fn) -> None:
    """The mean coefficient (eps = 0), the noise coefficient (x0 = 0), then random inputs."""
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    ones, zeros = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    for t in (0.3, 0.7):
        mean_coef = float(cc.array(cc.run(fn, ones, t, zeros), (1, 1))[0, 0])
        cc.fail_if(
            cc.coefficient_problem(
                mean_coef, float(_VP.mean_coeff(t)), f"Your coefficient of a_0 at t = {t}"
            )
        )
        noise_coef = float(cc.array(cc.run(fn, zeros, t, ones), (1, 1))[0, 0])
        cc.fail_if(
            cc.coefficient_problem(
                noise_coef, float(_VP.std(t)), f"Your coefficient of eps at t = {t}"
            )
        )
        got = cc.array(cc.run(fn, x0.clone(), t, eps.clone()), (6, 2))
        cc.fail_if(cc.mismatch(got, vp_perturb(x0, t, eps).numpy(), f"Your a_t at t = {t}"))


perturb = CodeExercise(
    id="02.vp-perturb",
    title="Draw from the VP kernel",
    statement=(
        "Write `vp_perturb(x0, t, eps)` returning a_t = sqrt(abar(t)) x0 + sqrt(1 - abar(t)) eps "
        "for the course's VP SDE `vp = sdes.get('vp')` (torch tensors x0 and eps of one shape, t a "
        "float). `vp.alpha_bar(t)` gives abar(t)."
    ),
    hints=(
        "The kernel's mean coefficient is sqrt(abar) and its standard deviation sqrt(1 - abar).",
    ),
    reference=vp_perturb,
    tester=_test_vp_perturb,
    success="your draw matches `vp.marginal` (mean and std of the kernel)",
    mistakes=(
        Mistake(lambda x0, t, e: _VP.alpha_bar(t) * x0 + _VP.std(t) * e, "", expect="square"),
        Mistake(
            lambda x0, t, e: _VP.mean_coeff(t) * x0 + (1 - _VP.alpha_bar(t)) * e,
            "",
            expect="square",
        ),
        Mistake(lambda x0, t, e: _VP.mean_coeff(t) * x0, "", expect="eps"),
    ),
)

register(ddpm_second_order, vp_kernel_variance, vp_denoiser, cosine_endpoint, perturb)

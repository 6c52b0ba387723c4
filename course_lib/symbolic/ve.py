"""The VE SDE (paper Section 2.2 and Appendix C): schedule, kernel, score, weighting, Euler step.

da = sqrt(d sigma^2/dt) dW (Eq. 5) with the geometric schedule of Song et al.,
sigma(t) = sigma_min (sigma_max / sigma_min)^t, so that g^2 = d sigma^2 / dt = 2 L sigma^2 with
L = ln(sigma_max / sigma_min).
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from course_lib.symbolic.core import Derivation, equal, h, r, sigma_max, sigma_min, t, x, x0

#: L = ln(sigma_max / sigma_min), the exponential rate of the geometric schedule.
log_ratio = sp.log(sigma_max / sigma_min)


def geometric_sigma(time: sp.Expr = t) -> sp.Expr:
    """sigma(t) = sigma_min (sigma_max / sigma_min)^t (Song et al., 2021)."""
    return sigma_min * (sigma_max / sigma_min) ** time


def _solve_positive(inequality: sp.Rel, var: sp.Symbol) -> sp.Set:
    """The set of var > 0 where ``inequality`` holds."""
    found = sp.solve_univariate_inequality(inequality, var, relational=False)
    return found.intersect(sp.Interval.open(0, sp.oo))


@cache
def ve_schedule() -> Derivation:
    """Geometric schedule: g^2(t) = d sigma^2 / dt = 2 ln(sigma_max / sigma_min) sigma^2(t)."""
    sigma = geometric_sigma()
    g2 = sp.diff(sigma**2, t)
    ok = equal(g2, 2 * log_ratio * sigma**2) and equal(sigma.subs(t, 1), sigma_max)
    return Derivation(
        "ve_schedule",
        "geometric VE schedule: g^2 = d sigma^2/dt = 2 ln(sigma_max/sigma_min) sigma^2",
        ok,
        {"sigma": sigma, "g2": 2 * log_ratio * sigma**2},
    )


@cache
def ve_kernel_variance() -> Derivation:
    """C.0.1 assumes sigma(0) = 0, but the geometric schedule has sigma(0) = sigma_min.

    By Ito isometry Var(a_t | a_0) = int_0^t g^2 = sigma^2(t) - sigma^2(0) = sigma^2(t) -
    sigma_min^2: the paper's sigma^2(t) overstates it by sigma_min^2, which is not zero.
    """
    sigma = geometric_sigma()
    g2 = sp.diff(sigma**2, t)
    exact = sp.integrate(g2.subs(t, r), (r, 0, t))
    paper = sigma**2
    gap = sp.simplify(paper - exact)
    ok = (
        equal(exact, sigma**2 - sigma_min**2)
        and equal(sigma.subs(t, 0), sigma_min)
        and equal(gap, sigma_min**2)
        and gap.is_positive is True
    )
    return Derivation(
        "ve_kernel_variance",
        "VE kernel variance is sigma^2(t) - sigma_min^2; the paper's sigma^2(t) needs sigma(0) = 0",
        ok,
        {"variance": sp.simplify(exact), "paper_variance": paper, "gap": gap},
    )


@cache
def ve_conditional_score() -> Derivation:
    """C.0.2: grad log N(a_t; a_0, v) = -(a_t - a_0)/v = -eps/sqrt(v), a_t = a_0 + sqrt(v) eps.

    Stated with the kernel variance v; the paper uses v = sigma^2(t), giving -eps / sigma(t).
    """
    var = sp.Symbol("v", positive=True)
    eps = sp.Symbol("epsilon", real=True)
    log_density = -((x - x0) ** 2) / (2 * var) - sp.log(2 * sp.pi * var) / 2
    score = sp.diff(log_density, x)
    in_eps = score.subs(x, x0 + sp.sqrt(var) * eps)
    ok = equal(score, -(x - x0) / var) and equal(in_eps, -eps / sp.sqrt(var))
    return Derivation(
        "ve_conditional_score",
        "VE conditional score = -(a_t - a_0)/v = -eps/sqrt(v)",
        ok,
        {"score": score, "score_in_eps": in_eps},
    )


@cache
def ve_weighting_equivalence() -> Derivation:
    """The two weightings of C.0.2 agree: lambda = g^2 is lambda = sigma^2 times 2 ln(smax/smin).

    For the geometric schedule g^2 / sigma^2 is a constant, so the 'theoretically motivated'
    g^2 and the 'simpler' sigma^2 give the same minimiser and differ only by the loss scale.
    """
    sigma = geometric_sigma()
    ratio = sp.simplify(sp.diff(sigma**2, t) / sigma**2)
    ok = equal(ratio, 2 * log_ratio) and not ratio.has(t)
    return Derivation(
        "ve_weighting_equivalence",
        "for the geometric schedule g^2/sigma^2 = 2 ln(sigma_max/sigma_min), constant in t",
        ok,
        {"ratio": ratio},
    )


@cache
def ve_euler_factor() -> Derivation:
    """Why an Euler step in t fails for the VE probability-flow ODE.

    With g^2 = 2 L sigma^2 and Tweedie's denoiser D = x + sigma^2 score, the ODE velocity is
    -g^2 score / 2 = L (x - D). Holding D fixed over a backward step of size h, the exact flow
    multiplies x - D by e^{-L h}, Euler by 1 - L h: smaller for every L h > 0, negative (overshoot)
    for L h > 1 and of modulus above 1 (divergence) for L h > 2.
    """
    lam = sp.Symbol("L", positive=True)
    sig, score = sp.symbols("sigma score", real=True)
    denoiser = x + sig**2 * score
    velocity = -(2 * lam * sig**2) * score / 2
    z = sp.Function("z")
    exact_flow = sp.dsolve(sp.Eq(z(h).diff(h), -lam * z(h)), ics={z(0): 1}).rhs
    # exp(-y) - (1 - y) = int_0^y int_0^u exp(-w) dw du with a positive integrand: > 0 for y > 0.
    y, u, w = sp.symbols("y u w", positive=True)
    gap_as_integral = sp.integrate(sp.integrate(sp.exp(-w), (w, 0, u)), (u, 0, y))
    euler = 1 - y
    ok = (
        equal(velocity, lam * (x - denoiser))
        and equal(exact_flow, sp.exp(-lam * h))
        and equal(gap_as_integral, sp.exp(-y) - euler)
        and sp.exp(-w).is_positive is True
        and _solve_positive(euler < 0, y) == sp.Interval.open(1, sp.oo)
        and _solve_positive(sp.Abs(euler) > 1, y) == sp.Interval.open(2, sp.oo)
    )
    return Derivation(
        "ve_euler_factor",
        "VE ODE velocity is L (x - D); Euler's factor 1 - L h < exp(-L h), < 0 past L h = 1",
        ok,
        {"exact_factor": sp.exp(-lam * h), "euler_factor": 1 - lam * h},
    )

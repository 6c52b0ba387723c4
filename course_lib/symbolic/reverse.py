"""Fokker-Planck, the probability-flow ODE (paper A.2) and the reverse-time SDE (Theorem 1).

For da = f(a, t) dt + g(t) dW the density solves the Fokker-Planck equation
dp/dt = -d/da (f p) + 1/2 g^2 d^2p/da^2. Each check is done twice: as an identity for an
arbitrary density p(a, t) and for the Gaussian marginals of a linear SDE.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from course_lib.symbolic.core import Derivation, T, equal, t, tau, vanishes, x
from course_lib.symbolic.linear import gaussian_density

_f = sp.Function("f")
_g = sp.Function("g", positive=True)
_p = sp.Function("p", positive=True)
_k = sp.Function("k")  # linear drift f = -k(t) x for the Gaussian case
_m = sp.Function("m")
_v = sp.Function("v", positive=True)


def fokker_planck_residual(density: sp.Expr, drift: sp.Expr, diffusion: sp.Expr) -> sp.Expr:
    """dp/dt + d/dx (f p) - 1/2 g^2 d^2p/dx^2 (zero when ``density`` solves Fokker-Planck)."""
    return (
        sp.diff(density, t)
        + sp.diff(drift * density, x)
        - diffusion**2 / 2 * sp.diff(density, x, 2)
    )


def continuity_residual(density: sp.Expr, velocity: sp.Expr, time: sp.Symbol = t) -> sp.Expr:
    """dp/dt + d/dx (velocity p) (zero when ``density`` is transported by the ODE flow)."""
    return sp.diff(density, time) + sp.diff(velocity * density, x)


def _gaussian_marginal() -> tuple[sp.Expr, dict]:
    """N(m(t), v(t)) and the moment ODEs of dx = -k x dt + g dW: m' = -k m, v' = -2 k v + g^2."""
    density = gaussian_density(x, _m(t), _v(t))
    moment_odes = {
        sp.Derivative(_m(t), t): -_k(t) * _m(t),
        sp.Derivative(_v(t), t): -2 * _k(t) * _v(t) + _g(t) ** 2,
    }
    return density, moment_odes


def _vanishes_over_density(residual: sp.Expr, density: sp.Expr, moment_odes: dict) -> bool:
    return vanishes(sp.expand(residual.subs(moment_odes).doit() / density))


@cache
def fokker_planck_gaussian() -> Derivation:
    """N(m, v) with m' = -k m, v' = -2 k v + g^2 solves the Fokker-Planck equation of
    dx = -k(t) x dt + g(t) dW: the moment ODEs are the whole of Fokker-Planck for linear SDEs."""
    density, odes = _gaussian_marginal()
    residual = fokker_planck_residual(density, -_k(t) * x, _g(t))
    ok = _vanishes_over_density(residual, density, odes)
    return Derivation(
        "fokker_planck_gaussian",
        "Gaussian marginals with the moment ODEs solve the Fokker-Planck equation",
        ok,
        {"residual": sp.simplify(residual.subs(odes).doit())},
    )


@cache
def probability_flow_continuity() -> Derivation:
    """A.2 / Eq. 15: the velocity f - 1/2 g^2 d/dx log p turns the continuity equation into
    Fokker-Planck, for any density; in particular the Gaussian marginals are transported."""
    density = _p(x, t)
    velocity = _f(x, t) - _g(t) ** 2 / 2 * sp.diff(sp.log(density), x)
    generic = vanishes(
        continuity_residual(density, velocity) - fokker_planck_residual(density, _f(x, t), _g(t))
    )
    gauss, odes = _gaussian_marginal()
    gauss_velocity = -_k(t) * x - _g(t) ** 2 / 2 * sp.diff(sp.log(gauss), x)
    gaussian = _vanishes_over_density(continuity_residual(gauss, gauss_velocity), gauss, odes)
    return Derivation(
        "probability_flow_continuity",
        "continuity with velocity f - g^2/2 grad log p equals Fokker-Planck (Eq. 15)",
        generic and gaussian,
        {"velocity": velocity, "gaussian_velocity": sp.simplify(gauss_velocity)},
    )


@cache
def reverse_sde_marginals() -> Derivation:
    """Theorem 1: q(x, tau) = p(x, T - tau) solves the Fokker-Planck equation of
    dx = [-f + g^2 grad log p_{T - tau}] dtau + g dW exactly when p solves the forward one.

    The reverse residual equals minus the forward residual at t = T - tau, as an identity; and
    for the Gaussian marginals of a linear SDE it is zero.
    """
    back = {t: T - tau}
    forward_residual = fokker_planck_residual(_p(x, t), _f(x, t), _g(t))
    q = _p(x, T - tau)
    drift = -_f(x, T - tau) + _g(T - tau) ** 2 * sp.diff(sp.log(q), x)
    reverse_residual = (
        sp.diff(q, tau) + sp.diff(drift * q, x) - _g(T - tau) ** 2 / 2 * sp.diff(q, x, 2)
    )
    generic = vanishes(reverse_residual + forward_residual.subs(back))

    gauss, odes = _gaussian_marginal()
    gauss_drift = _k(t) * x + _g(t) ** 2 * sp.diff(sp.log(gauss), x)  # -f + g^2 score at time t
    # d/dtau = -d/dt at t = T - tau, so the reverse Fokker-Planck residual written in t is:
    reverse_in_t = (
        -sp.diff(gauss, t) + sp.diff(gauss_drift * gauss, x) - _g(t) ** 2 / 2 * sp.diff(gauss, x, 2)
    )
    gaussian = _vanishes_over_density(reverse_in_t, gauss, odes)
    return Derivation(
        "reverse_sde_marginals",
        "the reverse-time SDE (Eq. 13) keeps the forward marginals p_{T - tau}",
        generic and gaussian,
        {"reverse_drift": drift},
    )


@cache
def dropped_noise_is_not_probability_flow() -> Derivation:
    """Dropping the noise of the reverse SDE does not give the probability-flow ODE.

    With velocity f - g^2 grad log p (the reverse drift without its noise), the continuity
    residual is -1/2 g^2 d^2p/dx^2, which is not zero (e.g. for a Gaussian): the score term must be
    halved, as in Eq. 15. The paper's 'deterministic' CLD sampler (Section 3.4.1) drops the noise.
    """
    density = _p(x, t)
    velocity = _f(x, t) - _g(t) ** 2 * sp.diff(sp.log(density), x)
    residual = continuity_residual(density, velocity) - fokker_planck_residual(
        density, _f(x, t), _g(t)
    )
    extra = -(_g(t) ** 2) / 2 * sp.diff(density, x, 2)
    gauss, _ = _gaussian_marginal()
    gauss_curvature = sp.simplify(sp.diff(gauss, x, 2) / gauss)
    ok = equal(residual, extra) and not vanishes(gauss_curvature)
    return Derivation(
        "dropped_noise_is_not_probability_flow",
        "ODE with the full reverse drift f - g^2 score misses the marginals by -g^2/2 p''",
        ok,
        {"extra_residual": extra, "gaussian_p_xx_over_p": gauss_curvature},
    )

"""Ito's lemma as a reusable helper, and the first results it gives.

For dX = mu dt + sigma dW (X in R^n, W in R^m) and a scalar phi(X, t),

    d phi = (phi_t + grad(phi) . mu + 1/2 tr(sigma sigma^T Hess(phi))) dt + grad(phi)^T sigma dW.

Used here for d(W^2), the logarithm of geometric Brownian motion, the moments of the
Ornstein-Uhlenbeck process, and the integrating factor of the VP SDE (paper, Appendix B.0.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from course_lib.symbolic.core import Derivation, equal, r, t, vanishes, x, x0


@dataclass(frozen=True)
class ItoDifferential:
    """d phi = drift dt + diffusion dW; ``diffusion`` is a 1 x m row (one entry per noise)."""

    drift: sp.Expr
    diffusion: sp.Matrix


def ito_lemma(
    phi: sp.Expr,
    state: sp.Symbol | list[sp.Symbol],
    time: sp.Symbol,
    drift: sp.Expr | list[sp.Expr],
    diffusion: sp.Expr | sp.Matrix,
) -> ItoDifferential:
    """Drift and diffusion of phi(X_t, t) for dX = drift dt + diffusion dW (Ito's lemma).

    Scalar case: ``state`` a symbol, ``drift`` and ``diffusion`` expressions. Vector case:
    ``state`` a list of n symbols, ``drift`` n expressions, ``diffusion`` an n x m matrix.
    """
    xs = [state] if isinstance(state, sp.Symbol) else list(state)
    mu = sp.Matrix([drift] if not isinstance(drift, list | tuple) else list(drift))
    sig = diffusion if isinstance(diffusion, sp.MatrixBase) else sp.Matrix([[diffusion]])
    if mu.shape != (len(xs), 1) or sig.rows != len(xs):
        raise ValueError(
            f"shapes do not match: {len(xs)} state variables, drift {mu.shape}, "
            f"diffusion {sig.shape}; drift needs one entry and diffusion one row per variable"
        )
    grad = sp.Matrix([sp.diff(phi, xi) for xi in xs])
    hess = sp.hessian(phi, xs)
    drift_phi = sp.diff(phi, time) + (grad.T * mu)[0, 0] + (sig * sig.T * hess).trace() / 2
    return ItoDifferential(sp.simplify(drift_phi), (grad.T * sig).applyfunc(sp.simplify))


@cache
def ito_w_squared() -> Derivation:
    """d(W_t^2) = dt + 2 W_t dW_t: the dt term is the quadratic variation d[W]_t = dt."""
    w = sp.Symbol("W", real=True)
    d = ito_lemma(w**2, w, t, 0, 1)
    ok = equal(d.drift, 1) and equal(d.diffusion[0, 0], 2 * w)
    return Derivation(
        "ito_w_squared",
        "d(W^2) = dt + 2 W dW, so W_t^2 - t is a martingale",
        ok,
        {"drift": d.drift, "diffusion": d.diffusion[0, 0]},
    )


@cache
def ito_gbm_log() -> Derivation:
    """For dX = m X dt + v X dW, d log X = (m - v^2/2) dt + v dW (the Ito correction -v^2/2)."""
    xp = sp.Symbol("X", positive=True)
    m, v = sp.symbols("m v", real=True)
    d = ito_lemma(sp.log(xp), xp, t, m * xp, v * xp)
    ok = equal(d.drift, m - v**2 / 2) and equal(d.diffusion[0, 0], v)
    return Derivation(
        "ito_gbm_log",
        "log of geometric Brownian motion has drift m - v^2/2 (not m)",
        ok,
        {"drift": d.drift, "diffusion": d.diffusion[0, 0]},
    )


@cache
def ou_moments() -> Derivation:
    """OU process dX = -theta X dt + sigma dW: moment ODEs from Ito's lemma, solved by dsolve.

    E[dX] and E[d(X^2)] give m' = -theta m and q' = -2 theta q + sigma^2 (q = E[X^2]), so
    mean x0 e^{-theta t} and variance sigma^2 (1 - e^{-2 theta t}) / (2 theta).
    """
    theta, sigma = sp.symbols("theta sigma", positive=True)
    drift, diff = -theta * x, sigma
    first = ito_lemma(x, x, t, drift, diff).drift  # linear in x: E[drift] = drift at the mean
    second = ito_lemma(x**2, x, t, drift, diff).drift  # = -2 theta x^2 + sigma^2
    m, q = sp.Function("m"), sp.Function("q")
    mean = sp.dsolve(sp.Eq(m(t).diff(t), first.subs(x, m(t))), m(t), ics={m(0): x0}).rhs
    second_in_q = sp.expand(second).subs(x**2, q(t))
    qsol = sp.dsolve(sp.Eq(q(t).diff(t), second_in_q), q(t), ics={q(0): x0**2}).rhs
    variance = sp.simplify(qsol - mean**2)
    mean_closed = x0 * sp.exp(-theta * t)
    var_closed = sigma**2 / (2 * theta) * (1 - sp.exp(-2 * theta * t))
    ok = (
        not second_in_q.has(x)
        and equal(mean, mean_closed)
        and equal(variance, var_closed)
        and equal(sp.limit(variance, t, sp.oo), sigma**2 / (2 * theta))
    )
    return Derivation(
        "ou_moments",
        "OU mean x0 e^{-theta t}, variance sigma^2 (1 - e^{-2 theta t})/(2 theta), Ito + dsolve",
        ok,
        {"mean": mean, "variance": variance},
    )


@cache
def vp_integrating_factor() -> Derivation:
    """Appendix B.0.2: Y = e^{alpha(t)} a with alpha = 1/2 int_0^t beta has no drift.

    Ito's lemma on Y for da = -beta a / 2 dt + sqrt(beta) dW gives dY = e^{alpha} sqrt(beta) dW.
    """
    beta = sp.Function("beta", positive=True)
    alpha = sp.Integral(beta(r), (r, 0, t)) / 2
    d = ito_lemma(sp.exp(alpha) * x, x, t, -beta(t) * x / 2, sp.sqrt(beta(t)))
    ok = vanishes(d.drift) and equal(d.diffusion[0, 0], sp.exp(alpha) * sp.sqrt(beta(t)))
    return Derivation(
        "vp_integrating_factor",
        "Y = exp(1/2 int beta) a_t has dY = exp(1/2 int beta) sqrt(beta) dW (no drift)",
        ok,
        {"drift": d.drift, "diffusion": d.diffusion[0, 0]},
    )

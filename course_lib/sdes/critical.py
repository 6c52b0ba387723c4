"""Closed forms for 2x2 linear SDEs with a repeated eigenvalue (critical damping), in float64.

For dX = A X dt + (0, sqrt(q)) dW with A = lam I + N and N nilpotent (N^2 = 0):
    e^{At} = e^{lam t} (I + N t)
    int_0^t e^{As} diag(0, q) e^{A^T s} ds = q int_0^t e^{2 lam s} c(s) c(s)^T ds,
    c(s) = (N_12 s, 1 + N_22 s)  (second column of I + N s),
so every entry is a combination of I_k(t) = int_0^t s^k e^{2 lam s} ds, k = 0, 1, 2.
"""

from __future__ import annotations

import torch
from torch import Tensor

Matrix2 = tuple[tuple[float, float], tuple[float, float]]

_SERIES_TERMS = 30


def exp_poly_integral(k: int, c: float, t: Tensor) -> Tensor:
    """I_k(t) = int_0^t s^k e^{c s} ds for k in {0, 1, 2}, accurate for small and large |c t|.

    Uses the power series t^{k+1} sum_n (ct)^n / (n! (n + k + 1)) for |ct| <= 1 and the closed
    forms (antiderivatives of s^k e^{cs}) otherwise.
    """
    if k not in (0, 1, 2):
        raise ValueError(f"k must be 0, 1 or 2, got {k}")
    t = torch.as_tensor(t, dtype=torch.float64)
    if c == 0.0:
        return t ** (k + 1) / (k + 1)
    ct = c * t
    small = ct.abs() <= 1.0
    series = _series(k, torch.where(small, ct, torch.zeros_like(ct)), t) if small.any() else None
    e = torch.exp(ct)
    if k == 0:
        closed = torch.expm1(ct) / c
    elif k == 1:
        closed = (e * (ct - 1.0) + 1.0) / c**2
    else:
        closed = (e * (ct**2 - 2.0 * ct + 2.0) - 2.0) / c**3
    return closed if series is None else torch.where(small, series, closed)


def _series(k: int, z: Tensor, t: Tensor) -> Tensor:
    """t^{k+1} sum_n z^n / (n! (n + k + 1)), the power series of I_k for z = ct, |z| <= 1."""
    series = torch.zeros_like(z)
    term = torch.ones_like(z)
    for n in range(_SERIES_TERMS):
        series = series + term / (n + k + 1)
        term = term * z / (n + 1)
    return series * t ** (k + 1)


def repeated_eigenvalue(a: Matrix2) -> float:
    """The double eigenvalue trace/2 of ``a``; raises if ``a`` is not critically damped."""
    (a11, a12), (a21, a22) = a
    lam = 0.5 * (a11 + a22)
    disc = (a11 - a22) ** 2 + 4 * a12 * a21
    scale = max(1.0, lam**2)
    if abs(disc) > 1e-9 * scale:
        raise ValueError(f"matrix {a} has distinct eigenvalues (discriminant {disc}); not critical")
    return lam


def critical_expm(a: Matrix2, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Entries (e11, e12, e21, e22) of e^{At} = e^{lam t}(I + N t)."""
    lam = repeated_eigenvalue(a)
    t = torch.as_tensor(t, dtype=torch.float64)
    (a11, a12), (a21, a22) = a
    decay = torch.exp(lam * t)
    return (
        decay * (1.0 + (a11 - lam) * t),
        decay * a12 * t,
        decay * a21 * t,
        decay * (1.0 + (a22 - lam) * t),
    )


def critical_noise_cov(a: Matrix2, q: float, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(C11, C12, C22) of int_0^t e^{As} diag(0, q) e^{A^T s} ds."""
    lam = repeated_eigenvalue(a)
    (_, n12), (_, a22) = a
    n22 = a22 - lam
    i0, i1, i2 = (exp_poly_integral(k, 2.0 * lam, t) for k in (0, 1, 2))
    return q * n12**2 * i2, q * n12 * (i1 + n22 * i2), q * (i0 + 2.0 * n22 * i1 + n22**2 * i2)

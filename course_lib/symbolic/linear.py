"""Gaussian moments of linear SDEs dX = A X dt + B dW, the tool behind every kernel here.

For such an SDE the law stays Gaussian; the mean solves m' = A m and the covariance the
Lyapunov equation C' = A C + C A^T + B B^T (take expectations of Ito's lemma on X and X X^T).
"""

from __future__ import annotations

import sympy as sp


def lyapunov_rhs(drift: sp.Matrix, cov: sp.Matrix, noise_cov: sp.Matrix) -> sp.Matrix:
    """A C + C A^T + B B^T: the time derivative of the covariance of dX = A X dt + B dW."""
    if not (drift.is_square and drift.shape == cov.shape == noise_cov.shape):
        raise ValueError(
            f"A, C and B B^T must be square of one size, got {drift.shape}, {cov.shape}, "
            f"{noise_cov.shape}"
        )
    return drift * cov + cov * drift.T + noise_cov


def symmetric_function_matrix(name: str, size: int, time: sp.Symbol) -> sp.Matrix:
    """A generic symmetric matrix of unknown functions of ``time`` (entries name_ij(time))."""
    entries = {}
    for i in range(size):
        for j in range(i, size):
            entries[i, j] = entries[j, i] = sp.Function(f"{name}_{i + 1}{j + 1}")(time)
    return sp.Matrix(size, size, lambda i, j: entries[i, j])


def gaussian_density(var: sp.Symbol, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    """The N(mean, variance) density in ``var``."""
    return sp.exp(-((var - mean) ** 2) / (2 * variance)) / sp.sqrt(2 * sp.pi * variance)

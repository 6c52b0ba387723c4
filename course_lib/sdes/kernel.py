"""Processes with an isotropic Gaussian kernel in data space: x_t | x_0 ~ N(m(t) x_0, s(t)^2 I).

VP, VE, VE-EDM and the position marginal of the paper's CLD (Appendix D.0.3) all have this form, so
they share the kernel, the reparameterisation x_t = m x_0 + s eps and the conversions between noise,
score and denoised data (Tweedie): score = -eps / s = -(x - m x0) / s^2.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from course_lib.sdes.base import SDE, TimeLike, randn


class IsotropicKernelSDE(SDE):
    """Mixin for an isotropic Gaussian kernel; subclasses give ``mean_coeff`` and ``std``."""

    @abc.abstractmethod
    def mean_coeff(self, t: TimeLike) -> Tensor:
        """m(t) in E[x_t | x_0] = m(t) x_0 (float64 for float input)."""

    @abc.abstractmethod
    def std(self, t: TimeLike) -> Tensor:
        """s(t), the kernel's standard deviation."""

    def _coefs(self, x: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        tt = self.time_tensor(t, batch=x.shape[0], device=x.device)
        return self.broadcast(self.mean_coeff(tt), x), self.broadcast(self.std(tt), x)

    def marginal(self, x0: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` of the kernel, both of x0's shape: x_t | x_0 ~ N(mean, std^2 I)."""
        m, s = self._coefs(x0, t)
        mean = m * x0
        return mean, s.expand_as(mean)

    def perturb(
        self, x0: Tensor, t: TimeLike, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draw ``(x_t, eps)`` with x_t = m(t) x_0 + s(t) eps (the reparameterised kernel)."""
        eps = randn(tuple(x0.shape), generator=generator, device=x0.device, dtype=x0.dtype)
        m, s = self._coefs(x0, t)
        return m * x0 + s * eps, eps

    def eps_to_score(self, eps: Tensor, t: TimeLike) -> Tensor:
        """score = -eps / s(t)."""
        _, s = self._coefs(eps, t)
        return -eps / s

    def score_to_eps(self, score: Tensor, t: TimeLike) -> Tensor:
        """eps = -s(t) score."""
        _, s = self._coefs(score, t)
        return -s * score

    def x0_from_score(self, x: Tensor, score: Tensor, t: TimeLike) -> Tensor:
        """Tweedie's denoiser E[x_0 | x_t] = (x + s^2 score) / m."""
        m, s = self._coefs(x, t)
        return (x + s**2 * score) / m

    def score_from_x0(self, x: Tensor, x0: Tensor, t: TimeLike) -> Tensor:
        """score = -(x - m x0) / s^2 (exact for the conditional kernel, Tweedie for E[x0|x])."""
        m, s = self._coefs(x, t)
        return -(x - m * x0) / s**2


class PhaseSpaceKernelSDE(SDE):
    """Mixin for a phase-space process whose state u = (x, v) given x_0 is Gaussian, per dimension:
    u_t | x_0 ~ N((m_x x_0, m_v x_0), [[S_xx, S_xv], [S_xv, S_vv]]) (CLD-HSM). Its ``score_fn``
    returns the velocity score of the joint density; subclasses give the two closed forms."""

    state_factor = 2

    @abc.abstractmethod
    def kernel_mean_coeffs(self, t: TimeLike) -> tuple[Tensor, Tensor]:
        """(m_x, m_v): E[x_t | x_0] = m_x x_0, E[v_t | x_0] = m_v x_0."""

    @abc.abstractmethod
    def kernel_cov(self, t: TimeLike) -> tuple[Tensor, Tensor, Tensor]:
        """(S_xx, S_xv, S_vv): the covariance of (x_t, v_t) given x_0."""

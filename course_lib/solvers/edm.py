"""Samplers that step in the noise level sigma, not in t (Karras et al. 2022; VE-EDM's stepping).

With the denoiser D(x; sigma) = x + sigma^2 s(x, t(sigma)), the probability-flow ODE of
x = x_0 + sigma n is dx/dsigma = (x - D(x; sigma))/sigma.
* Euler in sigma (the DDIM step): x' = x + (sigma' - sigma)(x - D)/sigma. It is exact while D is
  constant, and the step to sigma' = 0 returns D itself (the final denoising step).
* Heun (EDM Algorithm 1): Euler predictor, then the trapezoidal correction, skipped when sigma' = 0.
* Euler-Maruyama in the variance u = sigma^2, where the forward process is dx = dW_u and the reverse
  SDE is dx = -s du + dW_u:  x' = x + (u - u') s + sqrt(u - u') z. Weak order 1 in the steps; the
  step to sigma' = 0 adds no noise and is again the denoising step D.
"""

from __future__ import annotations

import math

from torch import Tensor

from course_lib.sdes import VEEDMSDE
from course_lib.solvers.diffusion import ScoreFn, call_score


def _time(sde: VEEDMSDE, sigma: float) -> float:
    return min(max(float(sde.time_of_noise_level(sigma)), 0.0), sde.T)


def denoised(sde: VEEDMSDE, score_fn: ScoreFn, x: Tensor, sigma: float) -> Tensor:
    """D(x; sigma) = x + sigma^2 s(x, t(sigma))."""
    return x + sigma**2 * call_score(sde, score_fn, x, _time(sde, sigma))


def edm_euler_step(
    sde: VEEDMSDE, score_fn: ScoreFn, x: Tensor, sigma: float, sigma_next: float
) -> Tensor:
    """x' = x + (sigma' - sigma)(x - D(x; sigma))/sigma."""
    d = (x - denoised(sde, score_fn, x, sigma)) / sigma
    return x + (sigma_next - sigma) * d


def edm_heun_step(
    sde: VEEDMSDE, score_fn: ScoreFn, x: Tensor, sigma: float, sigma_next: float
) -> Tensor:
    """EDM's second-order step; plain Euler when sigma' = 0."""
    d = (x - denoised(sde, score_fn, x, sigma)) / sigma
    x_pred = x + (sigma_next - sigma) * d
    if sigma_next == 0.0:
        return x_pred
    d_next = (x_pred - denoised(sde, score_fn, x_pred, sigma_next)) / sigma_next
    return x + (sigma_next - sigma) * 0.5 * (d + d_next)


def edm_em_step(
    sde: VEEDMSDE, score_fn: ScoreFn, x: Tensor, sigma: float, sigma_next: float, noise: Tensor
) -> Tensor:
    """EM in u = sigma^2: x' = x + (u - u') s + sqrt(u - u') z; the step to sigma' = 0 is D."""
    if sigma_next == 0.0:
        return denoised(sde, score_fn, x, sigma)
    du = sigma**2 - sigma_next**2
    score = call_score(sde, score_fn, x, _time(sde, sigma))
    return x + du * score + math.sqrt(du) * noise.to(x.dtype)

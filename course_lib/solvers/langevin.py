"""Phase-space integrators: the paper's CLD sampler and SSCS for CLD-HSM.

Paper's CLD (Eqs. 10-11, Sec. 3.4.1 and 3.4.3), virtual time tau = T - t running forward, step h:
    a' = a + p h
    p' = p + [-gamma p + lambda s(a, t)] h (+ sqrt(2 gamma h) z for Euler-Maruyama)
The score is the position score evaluated at the current t (= T - tau).

SSCS (symmetric splitting CLD sampler, Dockhorn et al. 2022) for the reverse CLD-HSM SDE in tau:
    dx = -beta/M v dtau, dv = [beta x - Gamma beta/M v] dtau + sqrt(2 Gamma beta) dW   (A: linear)
                        dv = 2 Gamma beta [s_v(u, t) + v/M] dtau                        (S: score)
One step = exact A over h/2, Euler step of S over h (score at the midpoint time), exact A over h/2.
Part A keeps the prior N(0, 1) x N(0, M) invariant and S vanishes there: SSCS is exactly stationary.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib.sdes import CLDHSM, PaperCLD
from course_lib.sdes.base import randn
from course_lib.solvers.diffusion import ScoreFn, call_score


def paper_cld_step(
    sde: PaperCLD,
    score_fn: ScoreFn,
    state: Tensor,
    t: float,
    t_next: float,
    noise: Tensor | None = None,
) -> Tensor:
    """One step of the paper's forward-integrated CLD sampler; ``noise=None`` gives Euler."""
    h = t - t_next
    a, p = sde.positions(state), sde.momenta(state)
    force = sde.force_scale * call_score(sde, score_fn, state, t)
    a_next = a + h * p
    p_next = p + h * (-sde.gamma * p + force)
    if noise is not None:
        p_next = p_next + math.sqrt(2.0 * sde.gamma * h) * noise.to(state.dtype)
    return torch.cat([a_next, p_next], dim=-1)


def _linear_half_step(
    sde: CLDHSM, state: Tensor, h: float, generator: torch.Generator | None
) -> Tensor:
    (e11, e12, e21, e22), (c11, c12, c22) = sde.sscs_linear(h)
    x, v = sde.positions(state), sde.momenta(state)
    xi = randn(tuple(state.shape), generator=generator, device=state.device, dtype=state.dtype)
    xi_x, xi_v = sde.positions(xi), sde.momenta(xi)
    l11 = math.sqrt(max(c11, 0.0))
    l21 = c12 / l11 if l11 > 0 else 0.0
    l22 = math.sqrt(max(c22 - l21**2, 0.0))
    x_new = e11 * x + e12 * v + l11 * xi_x
    v_new = e21 * x + e22 * v + l21 * xi_x + l22 * xi_v
    return torch.cat([x_new, v_new], dim=-1)


def sscs_step(
    sde: CLDHSM,
    score_fn: ScoreFn,
    state: Tensor,
    t: float,
    t_next: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One SSCS step from t to t_next < t (see module docstring)."""
    h = t - t_next
    state = _linear_half_step(sde, state, 0.5 * h, generator)
    t_mid = 0.5 * (t + t_next)
    score = call_score(sde, score_fn, state, t_mid)
    v = sde.momenta(state)
    v = v + h * 2.0 * sde.Gamma * sde.beta * (score + v / sde.M)
    state = torch.cat([sde.positions(state), v], dim=-1)
    return _linear_half_step(sde, state, 0.5 * h, generator)

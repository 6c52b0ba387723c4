"""Exponential integrators of the CLD-HSM probability-flow ODE (the default "euler" and "heun").

The ODE is du/dt = A(t) u + b(t) F(u, t), where the linear part A holds the drift and the Gaussian
part of the score and F is the network's correction (see ``CLDHSM.gaussian_flow``). Integrating
the linear part exactly and approximating only F over a step t -> t' gives
    exponential Euler:  u' = Phi u + w0 F(u, t)                           (F held constant)
    exponential Heun:   u~ = Phi u + w0 F(u, t),
                        u' = Phi u + (w0 - w1) F(u, t) + w1 F(u~, t')      (F linear in time)
Both are exact for N(0, sigma_data^2) data, whatever the number of steps: the rotation of phase
space (frequencies up to beta/M = 16) and the stiff velocity near t_eps, which cost plain Euler a
few hundred steps, are in Phi. This is the idea of DDIM and of gDDIM (Zhang et al. 2023), applied to
the exact-for-Gaussian parameterisation of :mod:`course_lib.sdes.cld_hsm`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.sdes import CLDHSM
from course_lib.solvers.diffusion import ScoreFn, call_score


def _correction(sde: CLDHSM, score_fn: ScoreFn, state: Tensor, t: float) -> Tensor:
    """The network's correction F at (u, t), recovered from the velocity score."""
    return sde.output_from_score(call_score(sde, score_fn, state, t), state, t)


def _advance(sde: CLDHSM, phi: tuple[float, ...], state: Tensor, *terms) -> Tensor:
    """Phi u + sum of w F over ``terms`` = ((w_x, w_v), F), ...: the weights act on (x, v)."""
    x, v = sde.positions(state), sde.momenta(state)
    x, v = phi[0] * x + phi[1] * v, phi[2] * x + phi[3] * v
    for (w_x, w_v), f in terms:
        x, v = x + w_x * f, v + w_v * f
    return torch.cat([x, v], dim=-1)


def exp_euler_step(
    sde: CLDHSM, score_fn: ScoreFn, state: Tensor, t: float, t_next: float
) -> Tensor:
    """u' = Phi u + w0 F(u, t): one network call."""
    phi, w0, _ = sde.gaussian_flow(t, t_next)
    return _advance(sde, phi, state, (w0, _correction(sde, score_fn, state, t)))


def exp_heun_step(sde: CLDHSM, score_fn: ScoreFn, state: Tensor, t: float, t_next: float) -> Tensor:
    """Predict with exponential Euler, then correct with F linear between t and t_next."""
    phi, w0, w1 = sde.gaussian_flow(t, t_next)
    f0 = _correction(sde, score_fn, state, t)
    f1 = _correction(sde, score_fn, _advance(sde, phi, state, (w0, f0)), t_next)
    w_start = (w0[0] - w1[0], w0[1] - w1[1])
    return _advance(sde, phi, state, (w_start, f0), (w1, f1))

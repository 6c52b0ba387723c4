"""Exact output moments of the samplers when the score is linear in the state (Gaussian data).

For N(0, s^2) data every score is linear, so each solver step is linear, u' = C u (+ D z for
Euler-Maruyama). The matrices are read off the library's own step functions with unit probes, so
these functions measure the real integrators without Monte-Carlo noise. One data dimension
(d = 1): states have ``state_factor`` components and the matrices are k x k, k = state_factor.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.sdes import SDE
from course_lib.solvers.diffusion import ScoreFn, em_step
from course_lib.solvers.edm import edm_em_step
from course_lib.solvers.grids import time_grid
from course_lib.solvers.sampling import check_solver, sample, stepping_knots
from course_lib.solvers.table import solver_info

#: Euler-Maruyama with its noise given, per stepping variable (not the paper's CLD sampler, "tau").
_EM_STEP = {"t": em_step, "sigma": edm_em_step}


def linear_flow_map(
    sde: SDE,
    score_fn: ScoreFn,
    solver: str,
    steps: int,
    *,
    grid: str | Tensor | None = None,
    denoise_final: bool | None = None,
) -> Tensor:
    """The k x k matrix G with u_out = G u_T of a deterministic ``sample`` run (same defaults)."""
    check_solver(sde, solver)
    if solver_info(solver).stochastic:
        raise ValueError(f"linear_flow_map needs a deterministic solver, not {solver!r}")
    k = sde.state_factor
    probes = torch.eye(k, dtype=torch.float64)
    _, path = sample(
        sde,
        score_fn,
        (k, 1),
        solver=solver,
        steps=steps,
        x_init=probes,
        grid=grid,
        denoise_final=denoise_final,
        return_path=True,
    )
    return path.states[-1].T


def linear_em_covariance(
    sde: SDE, score_fn: ScoreFn, steps: int, start_cov: Tensor, *, grid: str | None = None
) -> Tensor:
    """Covariance of the state after ``steps`` Euler-Maruyama steps from a state of ``start_cov``.

    Iterates Cov' = C Cov C^T + D D^T with C = step(probes, noise 0), D = step(0, noise 1), where
    step is the sampler's own: ``em_step`` in t (vp, ve, cld-hsm) or ``edm_em_step`` in sigma^2
    (ve-edm, on the sigmas of the time grid). No final denoising step. ``grid`` defaults to the
    sampler's own, ``sde.default_grid``.
    """
    if sde.stepping not in _EM_STEP:
        raise ValueError(
            f"linear_em_covariance covers SDEs stepping in {tuple(_EM_STEP)}, not {sde.name!r}"
        )
    k = sde.state_factor
    cov = torch.as_tensor(start_cov, dtype=torch.float64).reshape(k, k)
    probes = torch.eye(k, dtype=torch.float64)
    no_noise = torch.zeros(k, 1, dtype=torch.float64)
    origin, unit_noise = (
        torch.zeros(1, k, dtype=torch.float64),
        torch.ones(1, 1, dtype=torch.float64),
    )
    times = time_grid(sde, steps, grid or sde.default_grid)
    knots = stepping_knots(sde, times, denoise=False)

    em = _EM_STEP[sde.stepping]

    def step(u, a, b, z):
        return em(sde, score_fn, u, a, b, z)

    for a, b in zip(knots[:-1], knots[1:], strict=True):
        C = step(probes, a, b, no_noise).T
        D = step(origin, a, b, unit_noise).T
        cov = C @ cov @ C.T + D @ D.T
    return cov

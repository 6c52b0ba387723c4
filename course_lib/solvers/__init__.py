"""Reverse-time samplers for every SDE of :mod:`course_lib.sdes`.

``sample(sde, score_fn, shape, solver=..., steps=...)`` is the entry point; ``SOLVERS`` lists the
integrators per SDE, ``time_grid`` the time discretisations. The single steps are public so that
notebooks and tests can look inside one step (e.g. the linear map of Euler-Maruyama).

| SDE | euler | heun | em | sscs |
|---|---|---|---|---|
| vp, ve | probability-flow ODE in t | Heun on the ODE | reverse SDE | - |
| cld (paper) | Eqs. 10-11 without noise | not in the paper | Eqs. 10-11 | - |
| cld-hsm | exponential Euler on the ODE | exponential Heun | reverse SDE | splitting sampler |
| ve-edm | DDIM step in sigma | EDM Heun in sigma | EM in sigma^2 | - |
"""

from course_lib.solvers.diffusion import (
    ScoreFn,
    call_score,
    denoise_step,
    em_step,
    ode_euler_step,
    ode_heun_step,
    ode_velocity,
)
from course_lib.solvers.edm import denoised, edm_em_step, edm_euler_step, edm_heun_step
from course_lib.solvers.exponential import exp_euler_step, exp_heun_step
from course_lib.solvers.grids import GRID_KINDS, RHO, grid_kinds, time_grid
from course_lib.solvers.langevin import paper_cld_step, sscs_step
from course_lib.solvers.moments import linear_em_covariance, linear_flow_map
from course_lib.solvers.sampling import (
    SOLVERS,
    Path,
    check_solver,
    ode_step,
    probability_flow,
    sample,
    simulate_forward,
)

__all__ = [
    "GRID_KINDS",
    "RHO",
    "SOLVERS",
    "Path",
    "ScoreFn",
    "call_score",
    "check_solver",
    "denoise_step",
    "denoised",
    "edm_em_step",
    "edm_euler_step",
    "edm_heun_step",
    "em_step",
    "exp_euler_step",
    "exp_heun_step",
    "grid_kinds",
    "linear_em_covariance",
    "linear_flow_map",
    "ode_step",
    "ode_euler_step",
    "ode_heun_step",
    "ode_velocity",
    "paper_cld_step",
    "probability_flow",
    "sample",
    "simulate_forward",
    "sscs_step",
    "time_grid",
]

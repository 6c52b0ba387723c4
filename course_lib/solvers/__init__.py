"""Reverse-time samplers for every SDE of :mod:`course_lib.sdes`.

``sample(sde, score_fn, shape, solver=..., steps=...)`` is the entry point; ``SOLVER_TABLE``
(:mod:`.table`) holds one record per solver (label, colour, marker, stochastic, and its step per
stepping variable), each SDE lists the solvers it offers (``sde.solvers``), ``time_grid`` gives the
time discretisations. The single steps are public so that notebooks and tests can look inside one
step (e.g. the linear map of Euler-Maruyama).
"""

from course_lib.solvers.ddim import ddim_step
from course_lib.solvers.diffusion import (
    ScoreFn,
    call_score,
    denoise_step,
    em_step,
    noise_like,
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
    Path,
    check_solver,
    probability_flow,
    sample,
    simulate_forward,
    stepping_knots,
)
from course_lib.solvers.table import (
    SOLVER_TABLE,
    Solver,
    StepFn,
    ode_step,
    register_solver,
    solver_info,
    solver_names,
    unregister_solver,
)

__all__ = [
    "GRID_KINDS",
    "RHO",
    "SOLVER_TABLE",
    "Path",
    "ScoreFn",
    "Solver",
    "StepFn",
    "call_score",
    "check_solver",
    "ddim_step",
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
    "noise_like",
    "ode_step",
    "ode_euler_step",
    "ode_heun_step",
    "ode_velocity",
    "paper_cld_step",
    "probability_flow",
    "register_solver",
    "sample",
    "simulate_forward",
    "solver_info",
    "solver_names",
    "sscs_step",
    "stepping_knots",
    "time_grid",
    "unregister_solver",
]

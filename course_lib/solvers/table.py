"""The solver table: one record per solver (name, label, colour, marker, stochastic, steps).

A solver is a family of steps of one signature,

    step(sde, score_fn, x, s, s_next, generator) -> x',

one per stepping variable s of the SDE (``sde.stepping``: "t", "sigma" or "tau", see
:class:`course_lib.sdes.SDE`); ``solvers.sample`` calls the step that matches the SDE. An SDE
offers the solvers its record lists (``sde.solvers``). Adding a solver is one step function and one
:class:`Solver` line in ``SOLVER_TABLE`` (or a call to :func:`register_solver`); figures, widgets
and result tables read its label, colour and marker from here.

| solver | "t" (vp, ve, cld-hsm) | "sigma" (ve-edm) | "tau" (cld) |
|---|---|---|---|
| euler | probability-flow ODE (exponential for CLD-HSM) | DDIM step | Eqs. 10-11 without noise |
| heun | Heun on the ODE (exponential for CLD-HSM) | EDM Heun | - |
| em | Euler-Maruyama on the reverse SDE | EM in sigma^2 | Eqs. 10-11 |
| sscs | splitting sampler (CLD-HSM) | - | - |
| ddim | exponential integrator of the ODE (vp, ve, vp-edm) | - | - |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.sdes import SDE
from course_lib.solvers import ddim, diffusion, edm, exponential, langevin
from course_lib.solvers.diffusion import ScoreFn, noise_like

#: ``step(sde, score_fn, x, s, s_next, generator) -> x'`` with s in the SDE's stepping variable.
StepFn = Callable[[SDE, ScoreFn, Tensor, float, float, "torch.Generator | None"], Tensor]


@dataclass(frozen=True)
class Solver:
    """What the library knows about one solver: its steps, and how tables and figures show it."""

    name: str
    label: str
    color: str
    marker: str
    linestyle: str
    #: Whether the solver draws noise (same seed, same sample; deterministic solvers ignore it).
    stochastic: bool
    #: The step per stepping variable ("t", "sigma", "tau") the solver is defined for.
    steps: Mapping[str, StepFn]

    def step_for(self, sde: SDE) -> StepFn:
        """The step of this solver in ``sde``'s stepping variable."""
        if sde.stepping not in self.steps:
            raise ValueError(
                f"solver {self.name!r} has no step in {sde.stepping!r} (the stepping of "
                f"{sde.name!r}); it steps in {tuple(self.steps)}"
            )
        return self.steps[sde.stepping]


def ode_step(sde: SDE, method: str):
    """The probability-flow step ``(sde, score_fn, x, t, t_next) -> x`` for "euler" or "heun":
    exponential for CLD-HSM (unless built with ``ode_stepping="plain"``), in t otherwise."""
    if sde.ode_stepping == "exponential":
        return {"euler": exponential.exp_euler_step, "heun": exponential.exp_heun_step}[method]
    return {"euler": diffusion.ode_euler_step, "heun": diffusion.ode_heun_step}[method]


# ---------------------------------------------------------------------- steps in t
def _euler(sde, score_fn, x, t, t_next, generator):
    return ode_step(sde, "euler")(sde, score_fn, x, t, t_next)


def _heun(sde, score_fn, x, t, t_next, generator):
    return ode_step(sde, "heun")(sde, score_fn, x, t, t_next)


def _em(sde, score_fn, x, t, t_next, generator):
    return diffusion.em_step(sde, score_fn, x, t, t_next, noise_like(sde, x, generator))


def _sscs(sde, score_fn, x, t, t_next, generator):
    return langevin.sscs_step(sde, score_fn, x, t, t_next, generator)


def _ddim(sde, score_fn, x, t, t_next, generator):
    return ddim.ddim_step(sde, score_fn, x, t, t_next)


# ---------------------------------------------------------------------- steps in sigma
def _edm_euler(sde, score_fn, x, sigma, sigma_next, generator):
    return edm.edm_euler_step(sde, score_fn, x, sigma, sigma_next)


def _edm_heun(sde, score_fn, x, sigma, sigma_next, generator):
    return edm.edm_heun_step(sde, score_fn, x, sigma, sigma_next)


def _edm_em(sde, score_fn, x, sigma, sigma_next, generator):
    noise = noise_like(sde, x, generator)
    return edm.edm_em_step(sde, score_fn, x, sigma, sigma_next, noise)


# ---------------------------------------------------------------------- the paper's CLD (tau)
def _paper_cld_euler(sde, score_fn, x, t, t_next, generator):
    return langevin.paper_cld_step(sde, score_fn, x, t, t_next)


def _paper_cld_em(sde, score_fn, x, t, t_next, generator):
    return langevin.paper_cld_step(sde, score_fn, x, t, t_next, noise_like(sde, x, generator))


#: The steps of each solver, by stepping variable.
_EULER = {"t": _euler, "sigma": _edm_euler, "tau": _paper_cld_euler}
_HEUN = {"t": _heun, "sigma": _edm_heun}
_EM = {"t": _em, "sigma": _edm_em, "tau": _paper_cld_em}
_SSCS = {"t": _sscs}

#: Every solver, in the order tables and figures list them:
#: name, label, colour, marker, line style, stochastic, steps.
SOLVER_TABLE: dict[str, Solver] = {
    s.name: s
    for s in (
        Solver("euler", "Euler", "#d62728", "o", "-", False, _EULER),
        Solver("heun", "Heun", "#1f77b4", "s", "--", False, _HEUN),
        Solver("em", "Euler-Maruyama", "#2ca02c", "^", ":", True, _EM),
        Solver("sscs", "SSCS", "#9467bd", "D", "-.", True, _SSCS),
        Solver("ddim", "DDIM", "#8c564b", "v", "-", False, {"t": _ddim}),
    )
}


def register_solver(solver: Solver) -> Solver:
    """Add ``solver`` to the table under a new name (list it in an SDE's ``solvers`` to use it)."""
    if not solver.name or solver.name in SOLVER_TABLE:
        raise ValueError(f"a solver needs a new, non-empty name; got {solver.name!r}")
    SOLVER_TABLE[solver.name] = solver
    return solver


def unregister_solver(name: str) -> None:
    """Remove ``name`` from the table."""
    solver_info(name)
    del SOLVER_TABLE[name]


def solver_info(name: str) -> Solver:
    """The table's record of ``name``; ValueError naming the known solvers otherwise."""
    if name not in SOLVER_TABLE:
        raise ValueError(f"unknown solver {name!r}; the table holds {tuple(SOLVER_TABLE)}")
    return SOLVER_TABLE[name]


def solver_names() -> tuple[str, ...]:
    """Every solver of the table, in table order."""
    return tuple(SOLVER_TABLE)

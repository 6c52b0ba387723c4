"""The sampling loop: prior draw, time grid, the solver's step in the SDE's variable, optional path.

``steps`` counts every step, including the final denoising step when there is one: with
``denoise_final=True`` the integrator runs ``steps - 1`` steps on a grid from T to t_eps and the
last step jumps from t_eps to noise level 0 with Tweedie's denoiser (x + std(t)^2 score)/m(t)
(default where ``sde.denoise_final_default``: VE and VE-EDM; VP on request). For processes that
step in sigma (VE-EDM) that last step is the solver's step to sigma = 0, as in EDM; there
``steps = N`` costs N network calls with Euler and 2N - 1 with Heun.
Song's ODE sampler ends the same way; without it sigma_min noise stays in samples of the "song" VE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.sdes import SDE
from course_lib.solvers import diffusion
from course_lib.solvers.diffusion import ScoreFn, noise_like
from course_lib.solvers.grids import check_explicit_grid, check_steps, time_grid
from course_lib.solvers.table import ode_step, solver_info


@dataclass
class Path:
    """A sampled trajectory: ``times`` (steps + 1,) and full states (steps + 1, *state_shape).

    When ``final_denoised`` is true the last step is the denoising jump: ``times[-1] == times[-2]``
    and ``states[-1]`` is the denoised sample (noise level 0).
    """

    times: Tensor
    states: Tensor
    final_denoised: bool = False


def check_solver(sde: SDE, solver: str) -> str:
    """Raise a ValueError naming the valid solvers unless ``solver`` exists for ``sde``."""
    valid = sde.solvers
    if solver not in valid:
        reason = sde.solver_notes.get(solver, f"unknown solver {solver!r}")
        raise ValueError(f"{reason}; valid solvers for {sde.name!r} are {valid}")
    solver_info(solver).step_for(sde)
    return solver


def _resolve_denoise(sde: SDE, denoise_final: bool | None) -> bool:
    if denoise_final is None:
        return sde.denoise_final_default
    if denoise_final and (sde.state_factor != 1 or not hasattr(sde, "x0_from_score")):
        raise ValueError(
            f"denoise_final needs a Tweedie denoiser (vp, ve, ve-edm), not {sde.name!r}"
        )
    return bool(denoise_final)


def _grid(sde: SDE, steps: int, grid: str | Tensor | None, denoise: bool) -> Tensor:
    ode_steps = steps - 1 if denoise else steps
    if grid is None or isinstance(grid, str):
        kind = grid or sde.default_grid
        if ode_steps == 0:
            time_grid(sde, 1, kind)  # validates kind
            return torch.tensor([sde.T], dtype=torch.float64)
        return time_grid(sde, ode_steps, kind)
    return check_explicit_grid(sde, grid, ode_steps + 1)


def _initial_state(sde, shape, x_init, generator, dtype, device) -> Tensor:
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(
            f"shape must be a data shape (batch, ..., d) of positive sizes, got {shape}"
        )
    state_shape = (*shape[:-1], shape[-1] * sde.state_factor)
    if x_init is None:
        return sde.prior_sample(shape, generator=generator, device=device, dtype=dtype)
    if tuple(x_init.shape) != state_shape:
        raise ValueError(
            f"x_init must have the state shape {state_shape} for {sde.name!r} (data shape {shape}"
            f" with last dim x{sde.state_factor}), got {tuple(x_init.shape)}"
        )
    return x_init.clone()


def stepping_knots(sde: SDE, times: Tensor, denoise: bool) -> list[float]:
    """The grid in the SDE's stepping variable: the times, or the noise levels for "sigma" (where
    the denoising step is the solver's own step to sigma = 0, the last knot)."""
    if sde.stepping != "sigma":
        return [float(t) for t in times]
    knots = [float(s) for s in sde.noise_level(times)]
    if denoise:
        knots[-1] = 0.0
    return knots


def sample(
    sde: SDE,
    score_fn: ScoreFn,
    shape: tuple[int, ...],
    *,
    solver: str,
    steps: int,
    generator: torch.Generator | None = None,
    return_path: bool = False,
    grid: str | Tensor | None = None,
    x_init: Tensor | None = None,
    denoise_final: bool | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor | tuple[Tensor, Path]:
    """Integrate the generative process of ``sde`` from T to t_eps; return data-shaped samples.

    ``score_fn(state, t)`` gets t of shape (batch,) in the state's dtype and returns the score the
    SDE's ``score_from_output`` produces (data-shaped). ``grid`` is a name (see ``time_grid``; the
    default is ``sde.default_grid``) or an explicit decreasing tensor of ``steps + 1`` times
    (``steps`` when ``denoise_final``). ``denoise_final`` defaults to
    ``sde.denoise_final_default`` (see the module docstring). ``x_init`` replaces the prior draw (state shape); without it the
    prior is drawn with ``dtype`` (float32 by default) on ``device``.
    """
    check_solver(sde, solver)
    steps = check_steps(steps)
    denoise = _resolve_denoise(sde, denoise_final)
    times = _grid(sde, steps, grid, denoise)
    x = _initial_state(sde, shape, x_init, generator, dtype, device)
    if denoise:
        times = torch.cat([times, times[-1:]])
    states = [x] if return_path else None

    step = solver_info(solver).step_for(sde)
    knots = stepping_knots(sde, times, denoise)
    # in sigma the denoising step is the solver's last step; otherwise Tweedie's denoiser
    tweedie = denoise and sde.stepping != "sigma"
    for i in range(len(knots) - 1 - int(tweedie)):
        x = step(sde, score_fn, x, knots[i], knots[i + 1], generator)
        if states is not None:
            states.append(x)
    if tweedie:
        x = diffusion.denoise_step(sde, score_fn, x, knots[-1])
        if states is not None:
            states.append(x)

    out = sde.positions(x)
    if not return_path:
        return out
    return out, Path(times=times, states=torch.stack(states), final_denoised=denoise)


def probability_flow(
    sde: SDE,
    score_fn: ScoreFn,
    x: Tensor,
    times: Tensor,
    *,
    method: str = "heun",
) -> Tensor:
    """Integrate the probability-flow ODE along ``times`` (increasing: encode; decreasing: decode).

    Available for the processes with a probability-flow ODE: vp, ve, ve-edm (in t) and cld-hsm.
    """
    if sde.stepping == "tau":
        raise ValueError(
            f"{sde.name!r} is sampled in virtual time tau and has no probability-flow ODE"
        )
    if method not in ("euler", "heun"):
        raise ValueError(f"unknown method {method!r}; valid methods are ('euler', 'heun')")
    step = ode_step(sde, method)
    t_list = [float(t) for t in torch.as_tensor(times, dtype=torch.float64)]
    if len(t_list) < 2:
        raise ValueError("times must hold at least two entries")
    sde.time_tensor(torch.tensor(t_list, dtype=torch.float64))
    for t, t_next in zip(t_list[:-1], t_list[1:], strict=True):
        x = step(sde, score_fn, x, t, t_next)
    return x


def simulate_forward(
    sde: SDE,
    state0: Tensor,
    times: Tensor,
    *,
    generator: torch.Generator | None = None,
    return_path: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Euler-Maruyama on the FORWARD SDE along increasing ``times``: x' = x + f dt + g sqrt(dt) z.

    ``state0`` is a state (use ``sde.initial_state(x0)`` to add CLD momenta). Returns the final
    state, and with ``return_path`` also the states (len(times), *state.shape).
    """
    t_list = [float(t) for t in torch.as_tensor(times, dtype=torch.float64)]
    if len(t_list) < 2 or any(b <= a for a, b in zip(t_list[:-1], t_list[1:], strict=True)):
        raise ValueError("times must be increasing with at least two entries")
    sde.time_tensor(torch.tensor(t_list, dtype=torch.float64))
    x = state0
    path = [x] if return_path else None
    for t, t_next in zip(t_list[:-1], t_list[1:], strict=True):
        dt = t_next - t
        g = float(sde.diffusion(t))
        z = noise_like(sde, x, generator)
        x = x + dt * sde.drift(x, t) + g * dt**0.5 * sde.lift(z)
        if path is not None:
            path.append(x)
    return (x, torch.stack(path)) if path is not None else x

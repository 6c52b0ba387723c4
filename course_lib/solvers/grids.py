"""Time grids for the reverse-time samplers: decreasing times from T to t_eps.

* ``"uniform"``   t_i = T + i/N (t_eps - T), the paper's discretisation (Sec. 3.4).
* ``"quadratic"`` t_i = t_eps + (T - t_eps)(1 - i/N)^2, denser near the data end.
* ``"edm"``       Karras et al.'s rho = 7 grid in the noise level sigma = std/mean:
  sigma_i = (sigma_max^(1/rho) + i/N (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, mapped back to t.
  Only for processes with a noise level (``noise_level``/``time_of_noise_level``: vp, ve, ve-edm).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import Tensor

from course_lib.sdes import SDE

GRID_KINDS: tuple[str, ...] = ("uniform", "quadratic", "edm")
#: Karras et al.'s exponent of the noise-level grid.
RHO = 7.0


def grid_kinds(sde: SDE) -> tuple[str, ...]:
    """The named grids available for ``sde``."""
    if hasattr(sde, "noise_level"):
        return GRID_KINDS
    return tuple(k for k in GRID_KINDS if k != "edm")


#: Most sampler steps accepted: beyond this a call would run for hours without gaining accuracy.
MAX_STEPS = 10_000


def check_steps(steps: int) -> int:
    """``steps`` as a Python int in [1, MAX_STEPS]; numpy and torch integers are accepted, bools,
    floats, zero and negative numbers are a ValueError (``None`` is the caller's "default")."""
    if isinstance(steps, torch.Tensor) and steps.numel() == 1 and not steps.is_floating_point():
        steps = steps.item()
    if isinstance(steps, bool | np.bool_) or not isinstance(steps, numbers.Integral):
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {int(steps)}")
    if steps > MAX_STEPS:
        raise ValueError(
            f"steps must be at most {MAX_STEPS} (more steps cost hours and gain nothing), "
            f"got {int(steps)}"
        )
    return int(steps)


def time_grid(sde: SDE, steps: int, kind: str = "uniform", *, rho: float = RHO) -> Tensor:
    """Decreasing float64 times ``(steps + 1,)`` from ``sde.T`` to ``sde.t_eps`` (module doc)."""
    steps = check_steps(steps)
    kinds = grid_kinds(sde)
    if kind not in kinds:
        raise ValueError(f"unknown grid {kind!r} for {sde.name!r}; valid grids are {kinds}")
    frac = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    if kind == "uniform":
        times = sde.T + frac * (sde.t_eps - sde.T)
    elif kind == "quadratic":
        times = sde.t_eps + (sde.T - sde.t_eps) * (1.0 - frac) ** 2
    else:
        hi = float(sde.noise_level(sde.T)) ** (1.0 / rho)
        lo = float(sde.noise_level(sde.t_eps)) ** (1.0 / rho)
        times = sde.time_of_noise_level((hi + frac * (lo - hi)) ** rho)
    times = times.clamp(sde.t_eps, sde.T)
    times[0], times[-1] = sde.T, sde.t_eps
    return times


def check_explicit_grid(sde: SDE, grid: Tensor, length: int) -> Tensor:
    """Validate a user grid: 1-D, ``length`` entries, strictly decreasing, inside [0, T]."""
    grid = torch.as_tensor(grid).detach().to(dtype=torch.float64, device="cpu")
    if grid.dim() != 1 or grid.numel() != length:
        raise ValueError(
            f"an explicit grid must be 1-D with {length} times, got {tuple(grid.shape)}"
        )
    if length > 1 and not bool((grid[1:] < grid[:-1]).all()):
        raise ValueError("an explicit grid must be strictly decreasing (from T towards 0)")
    sde.time_tensor(grid)  # range check
    return grid

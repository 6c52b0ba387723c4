"""One step of the reverse-time integrators for dX = f dt + g dW (VP, VE, CLD-HSM).

With s the score (for CLD-HSM the velocity score, lifted into the velocity slot, since the noise
only enters there), the paper's Sec. 3.4 and App. A give:
    probability-flow ODE   dx/dt = f(x, t) - 1/2 g(t)^2 s(x, t)
    reverse SDE            dx = [f(x, t) - g(t)^2 s(x, t)] dt + g(t) dW_bar   (dt < 0)
* Euler (3.4.1):  x' = x + F(x, t) dt
* Heun (3.4.2):   x~ = x + F(x, t) dt,  x' = x + dt/2 [F(x, t) + F(x~, t')]
* Euler-Maruyama (3.4.3): x' = x + mu(x, t) dt + g(t) sqrt(|dt|) z
Every step works in either time direction (dt = t' - t of either sign) for the ODE.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from course_lib.sdes import SDE
from course_lib.sdes.base import randn

ScoreFn = Callable[[Tensor, Tensor], Tensor]


def call_score(sde: SDE, score_fn: ScoreFn, x: Tensor, t: float) -> Tensor:
    """``score_fn(x, t)`` with t a (batch,) tensor of x's dtype/device; checks the output shape."""
    tt = torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)
    score = score_fn(x, tt)
    expected = sde.data_shape(x)
    if not isinstance(score, Tensor) or tuple(score.shape) != expected:
        got = tuple(score.shape) if isinstance(score, Tensor) else type(score).__name__
        raise ValueError(f"score_fn must return a tensor of the data shape {expected}, got {got}")
    return score


def noise_like(sde: SDE, state: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal draws of the data shape that goes with ``state`` (where the noise enters)."""
    return randn(sde.data_shape(state), generator=generator, device=state.device, dtype=state.dtype)


def _g2(sde: SDE, t: float) -> float:
    return float(sde.diffusion(t)) ** 2


def ode_velocity(sde: SDE, score_fn: ScoreFn, x: Tensor, t: float) -> Tensor:
    """F(x, t) = f(x, t) - 1/2 g(t)^2 s(x, t), the probability-flow velocity."""
    return sde.reverse_drift(x, call_score(sde, score_fn, x, t), t, probability_flow=True)


def ode_euler_step(sde: SDE, score_fn: ScoreFn, x: Tensor, t: float, t_next: float) -> Tensor:
    """x' = x + F(x, t)(t' - t)."""
    return x + (t_next - t) * ode_velocity(sde, score_fn, x, t)


def ode_heun_step(sde: SDE, score_fn: ScoreFn, x: Tensor, t: float, t_next: float) -> Tensor:
    """Heun's predictor-corrector on the probability-flow ODE (paper Sec. 3.4.2)."""
    dt = t_next - t
    v0 = ode_velocity(sde, score_fn, x, t)
    x_pred = x + dt * v0
    return x + 0.5 * dt * (v0 + ode_velocity(sde, score_fn, x_pred, t_next))


def em_step(
    sde: SDE, score_fn: ScoreFn, x: Tensor, t: float, t_next: float, noise: Tensor
) -> Tensor:
    """Euler-Maruyama on the reverse SDE: x' = x + [f - g^2 s] dt + g sqrt(|dt|) z, dt = t' - t < 0.

    ``noise`` z is data-shaped; for CLD-HSM it enters the velocity only.
    """
    dt = t_next - t
    mean = x + dt * sde.reverse_drift(x, call_score(sde, score_fn, x, t), t)
    return mean + (_g2(sde, t) * abs(dt)) ** 0.5 * sde.lift(noise.to(x.dtype))


def denoise_step(sde: SDE, score_fn: ScoreFn, x: Tensor, t: float) -> Tensor:
    """Tweedie's final denoising E[x_0 | x_t] = (x + s(t)^2 score)/m(t) (VP, VE)."""
    return sde.x0_from_score(x, call_score(sde, score_fn, x, t), t)

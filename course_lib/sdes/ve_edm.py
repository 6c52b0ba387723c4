"""The VE process done right (Karras et al. 2022, "EDM"): same sigma(t) as the paper's VE SDE.

The process is read as "data plus noise of level sigma": x = x_0 + sigma(t) n, so the kernel
std is sigma(t) itself (the ``"song"`` kernel of :mod:`course_lib.sdes.ve`) and the time t is only a
label of the noise level. What changes is everything around it:

* Preconditioned denoiser  D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) with
  c_skip = sd^2/(sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
  c_in = 1/sqrt(sigma^2 + sd^2), c_noise = ln(sigma)/4, sd = sigma_data (0.5 for data in [-1, 1]).
  The score is (D - x)/sigma^2.
* Loss  lambda(sigma) ||D(x_0 + sigma n; sigma) - x_0||^2, lambda = (sigma^2 + sd^2)/(sigma sd)^2,
  which makes the effective target of F unit-variance at every noise level.
* Training noise levels: ln sigma ~ N(p_mean, p_std^2) (EDM's -1.2, 1.2) truncated to
  [sigma_min, sigma_max] by inverse-CDF sampling (no mass piles up at the ends); :meth:`sample_time`
  returns the matching t = ln(sigma/sigma_min)/ln(sigma_max/sigma_min).
* Samplers step in sigma, not t, on the rho = 7 grid, and end with a step to sigma = 0
  (see :mod:`course_lib.solvers.edm`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from course_lib.sdes.base import NetFn, TimeLike, mean_over_data, truncated_log_normal
from course_lib.sdes.ve import VESDE


class EDMPreconditioning(NamedTuple):
    """EDM's preconditioning at noise level sigma (Karras et al. 2022, Table 1):
    D(x; sigma) = c_skip x + c_out F(c_in x; c_noise)."""

    c_skip: Tensor
    c_out: Tensor
    c_in: Tensor
    c_noise: Tensor

    def network_inputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(c_in x, c_noise)``, the noise code one per sample of the batch x."""
        return self.c_in * x, self.c_noise.expand(x.shape[0]).to(x.dtype)

    def denoised(self, output: Tensor, x: Tensor) -> Tensor:
        """D(x; sigma) = c_skip x + c_out F from the network output F."""
        return self.c_skip * x + self.c_out * output


def edm_preconditioning(sigma: Tensor, sigma_data: float) -> EDMPreconditioning:
    """c_skip = sd^2/(sigma^2 + sd^2), c_out = sigma sd/sqrt(sigma^2 + sd^2),
    c_in = 1/sqrt(sigma^2 + sd^2), c_noise = ln(sigma)/4 (EDM Table 1, sd = sigma_data)."""
    sd2 = sigma_data**2
    norm = torch.sqrt(sigma**2 + sd2)
    return EDMPreconditioning(
        c_skip=sd2 / (sigma**2 + sd2),
        c_out=sigma * sigma_data / norm,
        c_in=1.0 / norm,
        c_noise=torch.log(sigma) / 4,
    )


class VEEDMSDE(VESDE):
    """VE noise levels with EDM preconditioning, loss weighting and sigma-stepping samplers."""

    name = "ve-edm"
    label = "VE-EDM"
    color = "#ff7f0e"
    default_sampler = ("heun", 10)
    #: VE's solvers without "ddim": stepping in sigma, Euler is the DDIM step.
    solvers = ("euler", "heun", "em")
    stepping = "sigma"
    default_grid = "edm"
    denoise_final_default = True

    def __init__(
        self,
        *,
        sigma_min: float = 0.01,
        sigma_max: float = 50.0,
        sigma_data: float = 0.5,
        p_mean: float = -1.2,
        p_std: float = 1.2,
        T: float = 1.0,
        t_eps: float = 0.0,
    ):
        if sigma_data <= 0 or p_std <= 0:
            raise ValueError(f"sigma_data and p_std must be positive, got {sigma_data}, {p_std}")
        super().__init__(sigma_min=sigma_min, sigma_max=sigma_max, T=T, t_eps=t_eps, kernel="song")
        self.sigma_data = float(sigma_data)
        self.p_mean = float(p_mean)
        self.p_std = float(p_std)

    # ------------------------------------------------------------------ preconditioning
    def preconditioning(self, sigma: Tensor) -> EDMPreconditioning:
        """``(c_skip, c_out, c_in, c_noise)`` at noise level sigma (EDM Table 1)."""
        return edm_preconditioning(sigma, self.sigma_data)

    def _precond(self, state: Tensor, t: TimeLike) -> tuple[EDMPreconditioning, Tensor]:
        """The coefficients at the state's times and sigma(t), shaped to multiply the state
        (c_noise keeps the shape of t)."""
        tt = self.time_tensor(t, batch=state.shape[0], device=state.device)
        sigma = self.sigma(tt)
        c = self.preconditioning(sigma)
        c_skip, c_out, c_in, sigma = (self.broadcast(v, state) for v in (*c[:3], sigma))
        return EDMPreconditioning(c_skip, c_out, c_in, c.c_noise), sigma

    def denoiser(self, output: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """D(x; sigma) = c_skip x + c_out F."""
        c, _ = self._precond(state, t)
        return self._denoised(c, output, state)

    def _denoised(self, c: EDMPreconditioning, output: Tensor, state: Tensor) -> Tensor:
        self.check_output(output, state)
        return c.denoised(output, state)

    # ------------------------------------------------------------------ parameterisation
    def network_inputs(self, state: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """x_in = c_in x, c_noise = ln(sigma)/4 (in [-1.15, 0.98] for sigma in [0.01, 50])."""
        c, _ = self._precond(state, t)
        return c.network_inputs(state)

    def score_from_output(self, output: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """score = (D(x; sigma) - x) / sigma^2."""
        c, sigma = self._precond(state, t)
        return (self._denoised(c, output, state) - state) / sigma**2

    def network_score(self, network: NetFn, state: Tensor, t: TimeLike) -> Tensor:
        """score = (D(x; sigma) - x) / sigma^2 with D = c_skip x + c_out F(c_in x, c_noise), the
        coefficients computed once per call (EDM Eq. 7)."""
        c, sigma = self._precond(state, t)
        output = network(*c.network_inputs(state))
        return (self._denoised(c, output, state) - state) / sigma**2

    def output_from_score(self, score: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """F = (D - c_skip x)/c_out with D = x + sigma^2 score."""
        c, sigma = self._precond(state, t)
        return (state + sigma**2 * score - c.c_skip * state) / c.c_out

    def sample_time(self, batch, generator=None, device=None, dtype=torch.float32) -> Tensor:
        """Training t: ln sigma(t) ~ N(p_mean, p_std^2) truncated to [sigma(t_eps), sigma_max]."""
        lo, hi = (math.log(s) for s in (self.sigma(self.t_eps).item(), self.sigma_max))
        log_sigma = truncated_log_normal(
            batch, self.p_mean, self.p_std, lo, hi, generator=generator, device=device
        )
        t = (log_sigma - math.log(self.sigma_min)) / self.log_ratio
        return t.clamp(self.t_eps, self.T).to(dtype)

    def loss(self, net_fn: NetFn, x0: Tensor, generator=None, t=None) -> Tensor:
        """EDM loss (sigma^2 + sd^2)/(sigma sd)^2 ||D(x_0 + sigma n; sigma) - x_0||^2, data mean."""
        x0 = self._check_data(x0)
        tt = self._loss_times(x0, t, generator)
        x_t, _ = self.perturb(x0, tt, generator)
        output = self._run_net(net_fn, x_t, tt)
        c, _ = self._precond(x_t, tt)
        return mean_over_data((self.denoiser(output, x_t, tt) - x0) ** 2 / c.c_out**2)

"""The variance-exploding SDE of the paper (Sec. 2.2, App. C).

    sigma(t) = sigma_min (sigma_max / sigma_min)^t,
    g(t)^2 = d sigma^2/dt = 2 sigma(t)^2 ln(sigma_max / sigma_min)
    dx = g(t) dW                                                                (Eq. 5)

Kernel variance, made explicit by the attribute ``kernel``:

* ``"exact"`` (default): the SDE started from the data at t = 0 has
  x_t | x_0 ~ N(x_0, (sigma(t)^2 - sigma_min^2) I), by Ito's isometry. This is what simulating
  Eq. 5 gives, so it is what the exact-score tests and the forward simulations agree with.
* ``"song"``: x_t | x_0 ~ N(x_0, sigma(t)^2 I), as in the paper's App. C.0.1 ("assuming
  sigma(0) = 0") and in score_sde. It is the law of the same SDE started from data already
  blurred by sigma_min noise, which is what :meth:`VESDE.initial_state` draws for this choice.
  The two variances differ by 18% at t = 0.1 and by less than 0.1% for t > 0.5.

The network output is the score itself and the loss is the sigma^2-weighted score matching of
Eq. 6/18, with sigma the kernel's standard deviation. The prior is N(0, std(T)^2 I).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib.sdes.base import NetFn, TimeLike, mean_over_data, randn
from course_lib.sdes.kernel import IsotropicKernelSDE

KERNELS = ("exact", "song")


class VESDE(IsotropicKernelSDE):
    """VE SDE with the geometric schedule; the network output is the score (paper Eq. 6)."""

    name = "ve"
    label = "VE"
    color = "#d62728"
    default_sampler = ("em", 50)
    #: The paper's three solvers, and DDIM, the exponential integrator of its ODE.
    solvers = ("euler", "heun", "em", "ddim")
    denoise_final_default = True

    def __init__(
        self,
        *,
        sigma_min: float = 0.01,
        sigma_max: float = 50.0,
        T: float = 1.0,
        t_eps: float = 1e-5,
        kernel: str = "exact",
    ):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        super().__init__(T=T, t_eps=t_eps)
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.kernel = kernel
        #: L = ln(sigma_max / sigma_min): d ln sigma / dt.
        self.log_ratio = math.log(self.sigma_max / self.sigma_min)

    # ------------------------------------------------------------------ schedule
    def _out(self, value: Tensor, t: TimeLike) -> Tensor:
        return value.to(t.dtype) if isinstance(t, Tensor) else value

    def sigma(self, t: TimeLike) -> Tensor:
        """sigma(t) = sigma_min (sigma_max / sigma_min)^t."""
        return self._out(self.sigma_min * torch.exp(self.log_ratio * self.time_tensor(t)), t)

    def g2(self, t: TimeLike) -> Tensor:
        """g(t)^2 = d sigma^2 / dt = 2 ln(sigma_max/sigma_min) sigma(t)^2."""
        sig = self.sigma(self.time_tensor(t))
        return self._out(2.0 * self.log_ratio * sig**2, t)

    def mean_coeff(self, t: TimeLike) -> Tensor:
        """m(t) = 1 (no drift)."""
        return self._out(torch.ones_like(self.time_tensor(t)), t)

    def std(self, t: TimeLike) -> Tensor:
        """Kernel std: sqrt(sigma^2 - sigma_min^2) ("exact") or sigma(t) ("song")."""
        tt = self.time_tensor(t)
        if self.kernel == "song":
            return self._out(self.sigma(tt), t)
        # sigma^2 - sigma_min^2 = sigma_min^2 expm1(2 L t), accurate near t = 0.
        return self._out(self.sigma_min * torch.sqrt(torch.expm1(2.0 * self.log_ratio * tt)), t)

    def noise_level(self, t: TimeLike) -> Tensor:
        """The kernel std, which is the EDM noise level of a drift-free process."""
        return self.std(t)

    def time_of_noise_level(self, sigma: Tensor) -> Tensor:
        """Inverse of :meth:`noise_level`."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        if self.kernel == "song":
            return torch.log(sigma / self.sigma_min) / self.log_ratio
        return torch.log1p((sigma / self.sigma_min) ** 2) / (2.0 * self.log_ratio)

    # ------------------------------------------------------------------ the process
    def drift(self, x: Tensor, t: TimeLike) -> Tensor:
        """f = 0."""
        self.time_tensor(t, batch=x.shape[0])
        return torch.zeros_like(x)

    def diffusion(self, t: TimeLike) -> Tensor:
        """g(t) = sqrt(d sigma^2/dt)."""
        return torch.sqrt(self.g2(t))

    def initial_state(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x(0): the data ("exact") or the data blurred by sigma_min noise ("song")."""
        if self.kernel == "exact":
            return x0
        noise = randn(tuple(x0.shape), generator=generator, device=x0.device, dtype=x0.dtype)
        return x0 + self.sigma_min * noise

    def prior_sample(self, shape, generator=None, device=None, dtype=None) -> Tensor:
        """x_T ~ N(0, std(T)^2 I), the paper's prior (data assumed small against sigma_max)."""
        z = randn(tuple(shape), generator=generator, device=device, dtype=dtype)
        return float(self.std(self.T)) * z

    # ------------------------------------------------------------------ parameterisation
    def network_inputs(self, state: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """x_in = x_t (unscaled, as in the paper), c_noise = t."""
        return state, self.batch_times(t, state.shape[0], state)

    def score_from_output(self, output: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """The network output is the score itself."""
        self.check_output(output, state)
        self.time_tensor(t, batch=state.shape[0])
        return output

    def output_from_score(self, score: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """Identity."""
        return score

    def loss(self, net_fn: NetFn, x0: Tensor, generator=None, t=None) -> Tensor:
        """Eq. 6/18: sigma^2 || s_theta(x_t, t) + eps / sigma ||^2 = || sigma s_theta + eps ||^2."""
        x0 = self._check_data(x0)
        tt = self._loss_times(x0, t, generator)
        x_t, eps = self.perturb(x0, tt, generator)
        output = self._run_net(net_fn, x_t, tt)
        _, s = self._coefs(x0, tt)
        return mean_over_data((s * output + eps) ** 2)

"""The variance-preserving SDE with the continuous cosine schedule (paper Sec. 2.1, App. B).

    dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW                                  (Eq. 3)
    x_t | x_0 ~ N(sqrt(abar(t)) x_0, (1 - abar(t)) I)                           (App. B.0.2)

Cosine schedule (Nichol & Dhariwal, s = 0.008), in closed form:
    u(t) = (t + s)/(1 + s) * pi/2,  abar(t) = cos^2 u(t) / cos^2 u(0),
    log abar(t) = 2 (log cos u(t) - log cos u(0)),  beta(t) = -d/dt log abar = pi/(1+s) tan u(t).

Everything is computed in float64: in float32 u(1) rounds above pi/2 and beta(1) comes out negative.
The process ends at T = 0.9946 < 1 (abar(T) = 7.1e-5, beta(T) = 370) and sampling stops at t_eps.
The network predicts the noise eps (Eq. 4/17) from (x_t, t).

Training times: the paper draws t ~ U[t_eps, T] (``time_law="uniform"``, the default).
``time_law="lognormal"`` is a corrected option: the noise level sigma(t) = sqrt(1/abar - 1) of the
equivalent "data plus noise" reading follows EDM's law ln sigma ~ N(p_mean, p_std^2) (Karras et al.
2022, Sec. 5), truncated to [sigma(t_eps), sigma(T)], and t = sigma^-1(ln sigma). The objective stays
the paper's noise-prediction MSE.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib.sdes.base import NetFn, TimeLike, mean_over_data, randn, truncated_log_normal
from course_lib.sdes.kernel import IsotropicKernelSDE


class VPSDE(IsotropicKernelSDE):
    """VP SDE with the cosine schedule; the network output is the noise eps."""

    name = "vp"
    label = "VP"
    color = "#1f77b4"
    default_sampler = ("euler", 50)
    #: The paper's three solvers, and DDIM, the exponential integrator of its ODE.
    solvers = ("euler", "heun", "em", "ddim")
    #: Laws of the training times: the paper's uniform t, or EDM's log-normal noise level.
    TIME_LAWS = ("uniform", "lognormal")

    def __init__(
        self,
        *,
        T: float = 0.9946,
        t_eps: float = 1e-3,
        s: float = 0.008,
        time_law: str = "uniform",
        p_mean: float = -1.2,
        p_std: float = 1.2,
    ):
        if not T < 1.0:
            raise ValueError(
                f"the cosine schedule needs T < 1 (abar(1) = 0, beta(1) = inf); got {T}"
            )
        if s <= 0:
            raise ValueError(f"the cosine offset s must be positive, got {s}")
        if time_law not in self.TIME_LAWS:
            raise ValueError(f"unknown time_law {time_law!r}; choose one of {self.TIME_LAWS}")
        if p_std <= 0:
            raise ValueError(f"p_std must be positive, got {p_std}")
        super().__init__(T=T, t_eps=t_eps)
        self.s = float(s)
        self.time_law, self.p_mean, self.p_std = time_law, float(p_mean), float(p_std)

    # ------------------------------------------------------------------ schedule (float64)
    def _u(self, t: TimeLike) -> Tensor:
        tt = self.time_tensor(t)
        return (tt + self.s) / (1.0 + self.s) * (math.pi / 2)

    def _out(self, value: Tensor, t: TimeLike) -> Tensor:
        return value.to(t.dtype) if isinstance(t, Tensor) else value

    def log_alpha_bar(self, t: TimeLike) -> Tensor:
        """log abar(t) = 2 (log cos u(t) - log cos u(0))."""
        u0 = self.s / (1.0 + self.s) * (math.pi / 2)
        value = 2.0 * (torch.log(torch.cos(self._u(t))) - math.log(math.cos(u0)))
        return self._out(value.clamp(max=0.0), t)  # rounding must not give abar(0) > 1

    def alpha_bar(self, t: TimeLike) -> Tensor:
        """abar(t) = cos^2 u(t) / cos^2 u(0)."""
        return self._out(torch.exp(self.log_alpha_bar(self.time_tensor(t))), t)

    def beta(self, t: TimeLike) -> Tensor:
        """beta(t) = -d/dt log abar(t) = pi/(1 + s) tan u(t)."""
        return self._out(math.pi / (1.0 + self.s) * torch.tan(self._u(t)), t)

    def mean_coeff(self, t: TimeLike) -> Tensor:
        """sqrt(abar(t))."""
        return self._out(torch.exp(0.5 * self.log_alpha_bar(self.time_tensor(t))), t)

    def std(self, t: TimeLike) -> Tensor:
        """sqrt(1 - abar(t)), via expm1 so it stays accurate for small t."""
        return self._out(torch.sqrt(-torch.expm1(self.log_alpha_bar(self.time_tensor(t)))), t)

    def noise_level(self, t: TimeLike) -> Tensor:
        """EDM noise level sigma = std / mean = sqrt(1/abar - 1) (used by the "edm" time grid)."""
        return self._out(torch.sqrt(torch.expm1(-self.log_alpha_bar(self.time_tensor(t)))), t)

    def time_of_noise_level(self, sigma: Tensor) -> Tensor:
        """Inverse of :meth:`noise_level`: abar = 1/(1 + sigma^2), cos u = sqrt(abar) cos u(0)."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        u0 = self.s / (1.0 + self.s) * (math.pi / 2)
        u = torch.arccos(math.cos(u0) / torch.sqrt(1.0 + sigma**2))
        return u * (1.0 + self.s) * 2.0 / math.pi - self.s

    def sample_time(self, batch, generator=None, device=None, dtype=torch.float32) -> Tensor:
        """Training times by ``time_law``: uniform on [t_eps, T], or ln sigma(t) ~ N(p_mean, p_std^2)
        truncated to [sigma(t_eps), sigma(T)] and mapped back to t."""
        if self.time_law == "uniform":
            return super().sample_time(batch, generator=generator, device=device, dtype=dtype)
        lo, hi = (math.log(float(self.noise_level(t))) for t in (self.t_eps, self.T))
        log_sigma = truncated_log_normal(
            batch, self.p_mean, self.p_std, lo, hi, generator=generator, device=device
        )
        t = self.time_of_noise_level(torch.exp(log_sigma))
        return t.clamp(self.t_eps, self.T).to(dtype)

    # ------------------------------------------------------------------ the process
    def drift(self, x: Tensor, t: TimeLike) -> Tensor:
        """f(x, t) = -1/2 beta(t) x."""
        tt = self.time_tensor(t, batch=x.shape[0], device=x.device)
        return -0.5 * self.broadcast(self.beta(tt), x) * x

    def diffusion(self, t: TimeLike) -> Tensor:
        """g(t) = sqrt(beta(t))."""
        return torch.sqrt(self.beta(t))

    def prior_sample(self, shape, generator=None, device=None, dtype=None) -> Tensor:
        """x_T ~ N(0, I) (abar(T) = 7e-5, so the data is forgotten)."""
        return randn(tuple(shape), generator=generator, device=device, dtype=dtype)

    # ------------------------------------------------------------------ parameterisation
    def network_inputs(self, state: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """x_in = x_t, c_noise = t."""
        return state, self.batch_times(t, state.shape[0], state)

    def score_from_output(self, output: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """score = -eps_theta / sqrt(1 - abar(t)) (App. B.0.3)."""
        self.check_output(output, state)
        return self.eps_to_score(output, t)

    def output_from_score(self, score: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """eps = -sqrt(1 - abar(t)) score."""
        return self.score_to_eps(score, t)

    def loss(self, net_fn: NetFn, x0: Tensor, generator=None, t=None) -> Tensor:
        """Eq. 4/17: ||eps - eps_theta(sqrt(abar) x_0 + sqrt(1 - abar) eps, t)||^2, data mean."""
        x0 = self._check_data(x0)
        tt = self._loss_times(x0, t, generator)
        x_t, eps = self.perturb(x0, tt, generator)
        output = self._run_net(net_fn, x_t, tt)
        return mean_over_data((output - eps) ** 2)

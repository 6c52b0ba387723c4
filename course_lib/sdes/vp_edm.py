"""VP done right: the paper's VP process with EDM's preconditioning, loss weight and noise law.

The forward process is the paper's, unchanged: the cosine-schedule VP SDE (Eq. 3) with kernel
x_t = m x_0 + s eps, m = sqrt(abar(t)), s = sqrt(1 - abar(t)) (:mod:`course_lib.sdes.vp`). What
changes is the network around it (Karras et al. 2022, Sec. 5, their own column of Table 1,
applied to the VP process): write x_t = m (x_0 + sigma n) with the noise level sigma = s/m, so that
x_t/m is "data plus noise" at level sigma, and learn the denoiser of that scaled state,

    D(x_t/m; sigma) = c_skip x_t/m + c_out F(c_in x_t/m; c_noise)     (EDM Eq. 7, Table 1)
    score(x_t, t) = (m D - x_t) / s^2                                  (Tweedie, inverted)
    loss = lambda(sigma) ||D(x_t/m; sigma) - x_0||^2,  lambda = 1/c_out^2
    ln sigma ~ N(p_mean, p_std^2), truncated to [sigma(t_eps), sigma(T)], t = sigma^-1(sigma).

The network therefore sees exactly what VE-EDM's network sees (unit-variance input, ln(sigma)/4,
unit-variance target): EDM's point that VP and VE differ only in the scale m(t) and the noise
level sigma(t) of one ODE. Sampling integrates VP's own probability-flow ODE in t (the paper's
Definition 5 with this score) on the rho = 7 noise-level grid, and ends with Tweedie's denoising
step, as VE-EDM does. The default sampler is DDIM with 10 steps (:mod:`course_lib.solvers.ddim`),
which integrates the ODE's linear part exactly: in x/m it is VE-EDM's Euler step in sigma.
"""

from __future__ import annotations

from torch import Tensor

from course_lib.sdes.base import NetFn, TimeLike, mean_over_data
from course_lib.sdes.ve_edm import EDMPreconditioning, edm_preconditioning
from course_lib.sdes.vp import VPSDE


class VPEDMSDE(VPSDE):
    """The cosine VP SDE with EDM's preconditioned denoiser, loss weight and log-normal noise law."""

    name = "vp-edm"
    label = "VP-EDM"
    color = "#17becf"
    default_sampler = ("ddim", 10)
    default_grid = "edm"
    denoise_final_default = True

    def __init__(
        self,
        *,
        T: float = 0.9946,
        t_eps: float = 1e-3,
        s: float = 0.008,
        sigma_data: float = 0.5,
        p_mean: float = -1.2,
        p_std: float = 1.2,
    ):
        if sigma_data <= 0:
            raise ValueError(f"sigma_data must be positive, got {sigma_data}")
        super().__init__(T=T, t_eps=t_eps, s=s, time_law="lognormal", p_mean=p_mean, p_std=p_std)
        self.sigma_data = float(sigma_data)

    def _precond(self, state: Tensor, t: TimeLike) -> tuple[EDMPreconditioning, Tensor, Tensor]:
        """EDM's coefficients at sigma(t), the mean coefficient m(t) and the kernel std s(t), shaped
        to multiply the state (c_noise keeps the shape of t)."""
        tt = self.time_tensor(t, batch=state.shape[0], device=state.device)
        c = edm_preconditioning(self.noise_level(tt), self.sigma_data)
        c_skip, c_out, c_in, m, s = (
            self.broadcast(v, state) for v in (*c[:3], self.mean_coeff(tt), self.std(tt))
        )
        return EDMPreconditioning(c_skip, c_out, c_in, c.c_noise), m, s

    # ------------------------------------------------------------------ parameterisation
    def network_inputs(self, state: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """x_in = c_in x/m, c_noise = ln(sigma)/4."""
        c, m, _ = self._precond(state, t)
        return c.network_inputs(state / m)

    def score_from_output(self, output: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """score = (m D(x/m; sigma) - x) / s^2."""
        self.check_output(output, state)
        c, m, s = self._precond(state, t)
        return (m * c.denoised(output, state / m) - state) / s**2

    def output_from_score(self, score: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """F = (D - c_skip x/m)/c_out with D = (x + s^2 score)/m."""
        c, m, s = self._precond(state, t)
        return ((state + s**2 * score) / m - c.c_skip * state / m) / c.c_out

    def network_score(self, network: NetFn, state: Tensor, t: TimeLike) -> Tensor:
        """score = (m D - x)/s^2 with the coefficients computed once per network call."""
        c, m, s = self._precond(state, t)
        scaled = state / m
        output = network(*c.network_inputs(scaled))
        self.check_output(output, state)
        return (m * c.denoised(output, scaled) - state) / s**2

    def loss(self, net_fn: NetFn, x0: Tensor, generator=None, t=None) -> Tensor:
        """EDM loss ||D(x_t/m; sigma) - x_0||^2 / c_out^2 at x_t = m x_0 + s eps, data mean."""
        x0 = self._check_data(x0)
        tt = self._loss_times(x0, t, generator)
        x_t, _ = self.perturb(x0, tt, generator)
        output = self._run_net(net_fn, x_t, tt)
        c, m, _ = self._precond(x_t, tt)
        return mean_over_data((c.denoised(output, x_t / m) - x0) ** 2 / c.c_out**2)

"""The paper's critically damped Langevin dynamics (Sec. 2.3, App. D), unit mass, gamma = 3.

Forward process in phase space X = (a, p), per data dimension:
    da = p dt,  dp = -gamma p dt + sqrt(2 gamma) dW                              (Eqs. 7-8)
    dX = A X dt + B dW,  A = [[0, 1], [0, -gamma]],  B = (0, sqrt(2 gamma))
    e^{At} = [[1, (1 - e^{-gamma t})/gamma], [0, e^{-gamma t}]]                 (App. D.0.1)
    Sigma_11 = 2t/gamma - (3 - 4 e^{-gamma t} + e^{-2 gamma t})/gamma^2,
    Sigma_12 = (1 - e^{-gamma t})^2/gamma,  Sigma_22 = 1 - e^{-2 gamma t}        (App. D.0.2)
With p_0 ~ N(0, I), the position kernel is a_t | a_0 ~ N(a_0, sigma_CLD(t)^2 I),
    sigma_CLD(t)^2 = (2/gamma^2)(gamma t + e^{-gamma t} - 1)                     (App. D.0.3)

Training (Algorithm 1, Eq. 9/19): a_t = a_0 + sigma_CLD(t) eps, the network outputs the position
score s_theta(a_t, t), loss sigma_CLD^2 ||s_theta + eps/sigma_CLD||^2. The network sees only the
position: :meth:`PaperCLD.network_inputs` puts zeros in the momentum slot so that every SDE's
network has an input of the state's shape.

Generative process (Eqs. 10-11, 3.4.1, 3.4.3), virtual time tau = T - t integrated forward:
    da = p dtau,  dp = [-gamma p + lambda s_theta(a, T - tau)] dtau + sqrt(2 gamma) dW.
Choices (the paper leaves them open):
* lambda = 1 (``force_scale``): with a frozen score s = grad log pi, underdamped Langevin with unit
  mass, friction gamma and noise sqrt(2 gamma) leaves pi(a) N(p; 0, 1) invariant exactly when
  lambda = 1 (fluctuation-dissipation).
* Prior a ~ N(0, sigma_CLD(T)^2 I) (the position kernel's spread, data neglected as for VE) and
  p ~ N(0, I), the momentum's stationary law.
* T = 14: sigma_CLD(14) = 3.0, three times the half-width of data normalised to [-1, 1] (and five
  times the std of uniform data on it); larger T makes the position spread grow only like sqrt(t).

This generative process is NOT the time reversal of the forward SDE: the exact reversal needs the
momentum score of the joint density. With an exact position score it is biased and the bias does
not vanish with more steps (see tests/test_sde_cld.py and :mod:`course_lib.sdes.cld_hsm` for the
correct process).
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.sdes.base import NetFn, TimeLike, mean_over_data, randn
from course_lib.sdes.kernel import IsotropicKernelSDE


class PaperCLD(IsotropicKernelSDE):
    """The paper's CLD; ``marginal`` and the conversions refer to the position kernel."""

    name = "cld"
    label = "CLD"
    color = "#2ca02c"
    solvers = ("euler", "em")
    solver_notes = {
        "heun": "Heun is not part of the paper's CLD sampler (Sec. 3.4.2 defines it for VP and VE "
        "only; Table 1 has no CLD Heun entry)",
    }
    default_sampler = ("euler", 50)
    #: Eqs. 10-11 integrated forward in tau = T - t ("euler" without the noise, "em" with it).
    stepping = "tau"
    state_factor = 2
    state_names = ("a", "p")  # the paper's action and momentum

    def __init__(
        self, *, gamma: float = 3.0, T: float = 14.0, t_eps: float = 1e-3, force_scale: float = 1.0
    ):
        if gamma <= 0:
            raise ValueError(f"gamma must be positive, got {gamma}")
        super().__init__(T=T, t_eps=t_eps)
        self.gamma = float(gamma)
        self.force_scale = float(force_scale)

    def _out(self, value: Tensor, t: TimeLike) -> Tensor:
        return value.to(t.dtype) if isinstance(t, Tensor) else value

    # ------------------------------------------------------------------ App. D closed forms
    def expm_A(self, t: TimeLike) -> Tensor:
        """e^{At} as a tensor (..., 2, 2) (App. D.0.1)."""
        tt = self.time_tensor(t)
        decay = torch.exp(-self.gamma * tt)
        one, zero = torch.ones_like(tt), torch.zeros_like(tt)
        top = torch.stack([one, -torch.expm1(-self.gamma * tt) / self.gamma], dim=-1)
        bottom = torch.stack([zero, decay], dim=-1)
        return self._out(torch.stack([top, bottom], dim=-2), t)

    def kernel_cov(self, t: TimeLike) -> tuple[Tensor, Tensor, Tensor]:
        """(Sigma_11, Sigma_12, Sigma_22) of (a_t, p_t) given (a_0, p_0) (App. D.0.2)."""
        tt = self.time_tensor(t)
        g = self.gamma
        e1, e2 = torch.exp(-g * tt), torch.exp(-2 * g * tt)
        s11 = 2 * tt / g - (3 - 4 * e1 + e2) / g**2
        s12 = torch.expm1(-g * tt) ** 2 / g
        s22 = -torch.expm1(-2 * g * tt)
        return self._out(s11, t), self._out(s12, t), self._out(s22, t)

    def sigma2(self, t: TimeLike) -> Tensor:
        """sigma_CLD(t)^2 = (2/gamma^2)(gamma t + e^{-gamma t} - 1) (App. D.0.3)."""
        tt = self.time_tensor(t)
        g = self.gamma
        return self._out(2.0 / g**2 * (g * tt + torch.expm1(-g * tt)), t)

    def mean_coeff(self, t: TimeLike) -> Tensor:
        """E[a_t | a_0] = a_0."""
        return self._out(torch.ones_like(self.time_tensor(t)), t)

    def std(self, t: TimeLike) -> Tensor:
        """sigma_CLD(t)."""
        return self._out(torch.sqrt(self.sigma2(self.time_tensor(t))), t)

    # ------------------------------------------------------------------ the process
    def drift(self, x: Tensor, t: TimeLike) -> Tensor:
        """f(a, p) = (p, -gamma p)."""
        self.time_tensor(t, batch=x.shape[0])
        p = self.momenta(x)
        return torch.cat([p, -self.gamma * p], dim=-1)

    def diffusion(self, t: TimeLike) -> Tensor:
        """g = sqrt(2 gamma), on the momentum only."""
        tt = self.time_tensor(t)
        return self._out(torch.full_like(tt, (2.0 * self.gamma) ** 0.5), t)

    def initial_state(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(a_0, p_0) with p_0 ~ N(0, I) as in App. D.0.3."""
        p0 = randn(tuple(x0.shape), generator=generator, device=x0.device, dtype=x0.dtype)
        return torch.cat([x0, p0], dim=-1)

    def prior_sample(self, shape, generator=None, device=None, dtype=None) -> Tensor:
        """a ~ N(0, sigma_CLD(T)^2 I), p ~ N(0, I); returns (batch, ..., 2 d)."""
        shape = tuple(shape)
        z = randn((*shape[:-1], 2 * shape[-1]), generator=generator, device=device, dtype=dtype)
        scale = torch.ones(2 * shape[-1], dtype=z.dtype, device=z.device)
        scale[: shape[-1]] = float(self.std(self.T))
        return z * scale

    def reverse_drift(self, state, score, t, *, probability_flow=False) -> Tensor:
        """Refused: the paper's generative process (Eqs. 10-11) is not the time reversal.

        Putting the position score into the momentum slot of f - g^2 s diverges; the paper's
        sampler is ``solvers.paper_cld_step`` and the correct reversal is ``"cld-hsm"``.
        """
        raise ValueError(
            "the paper's CLD has no reverse drift in terms of a position score (its reversal needs "
            "the momentum score of the joint density); use solvers.paper_cld_step or 'cld-hsm'"
        )

    # ------------------------------------------------------------------ parameterisation
    def network_inputs(self, state: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """x_in = (a_t, 0): the paper's network sees the position only; c_noise = t."""
        x_in = torch.cat([self.positions(state), torch.zeros_like(self.momenta(state))], dim=-1)
        return x_in, self.batch_times(t, state.shape[0], state)

    def score_from_output(self, output: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """The network output is the position score s_theta(a_t, t) fed to Eq. 11."""
        self.check_output(output, state)
        self.time_tensor(t, batch=state.shape[0])
        return output

    def output_from_score(self, score: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """Identity."""
        return score

    def loss(self, net_fn: NetFn, x0: Tensor, generator=None, t=None) -> Tensor:
        """Eq. 9/19: sigma_CLD^2 ||s_theta(a_t, t) + eps/sigma_CLD||^2 a_t = a_0 + sigma_CLD eps."""
        x0 = self._check_data(x0)
        tt = self._loss_times(x0, t, generator)
        a_t, eps = self.perturb(x0, tt, generator)
        state = torch.cat([a_t, torch.zeros_like(a_t)], dim=-1)
        output = self._run_net(net_fn, state, tt)
        _, s = self._coefs(x0, tt)
        return mean_over_data((s * output + eps) ** 2)

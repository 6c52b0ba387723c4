"""Critically damped Langevin diffusion done right (Dockhorn, Vahdat & Kreis 2022, "CLD-SGM").

Phase space u = (x, v), per data dimension, mass M, friction Gamma, time scale beta:
    dx = beta M^-1 v dt,  dv = (-beta x - Gamma beta M^-1 v) dt + sqrt(2 Gamma beta) dW
    i.e. du = F u dt + (0, sqrt(2 Gamma beta)) dW,  F = beta [[0, 1/M], [-1, -Gamma/M]].
Critical damping Gamma^2 = 4M gives F a double eigenvalue lam = -beta Gamma / (2M), so the kernel is
closed-form (:mod:`course_lib.sdes.critical`). With v_0 ~ N(0, v0_var_factor * M):
    u_t | x_0 ~ N((m_x(t) x_0, m_v(t) x_0), Sigma(t)),  (m_x, m_v) = first column of e^{Ft},
    Sigma(t) = v0_var_factor M e^{Ft} e_2 e_2^T e^{F^T t}
               + int_0^t e^{Fs} diag(0, 2 Gamma beta) e^{F^T s} ds.
The stationary law, used as the prior, is N(0, I) x N(0, M I).

Hybrid score matching: u_t = mean + L eps with L the Cholesky factor of Sigma(t); the conditional
velocity score is -eps_v / L_vv with L_vv = sqrt(Sigma_vv - Sigma_xv^2 / Sigma_xx), and the loss is
||eps_v - eps_theta(u_t, t)||^2 (lambda = L_vv^2 in score units).

Network parameterisation (Dockhorn et al.'s "mixed score", made exact for Gaussian data): for data
N(0, sd^2) the state is Gaussian with covariance A(t) = sd^2 m m^T + Sigma(t), m = (m_x, m_v), and
the ideal output is linear, eps_gauss = L_vv (a v - b x) / (a c - b^2) with A = [[a, b], [b, c]].
The network only learns the correction: eps_theta = eps_gauss(u_t) + F(c_in u_t, t), where c_in
scales x and v to unit variance, c_in = (a^-1/2, c^-1/2). sd = sigma_data (0.5 for data in [-1, 1]).
Training times follow EDM's noise levels. What u_t says about x_0 is the linear statistic
m^T Sigma^-1 u_t = info (x_0 + noise of std sigma_eff), with sigma_eff(t) = (m^T Sigma(t)^-1 m)^-1/2:
at time t the process is as informative as VE noise of level sigma_eff (0.015 at t = 0.01, 0.41 at
t = 0.1, 16 at t = 0.6). ``time_law="lognormal"`` (default) draws ln sigma_eff ~ N(-1.2, 1.2^2), the
levels EDM trains on, and maps them back to t; 95% of times then fall in [0.015, 0.35]. ``"sqrt"``
(t = t_eps + (T - t_eps) w^2, w ~ U[0, 1]) put 41% of the batch above sigma_eff = 3.3, where
eps_gauss is already exact; ``"uniform"`` (Dockhorn et al.) put 65% there.

Reverse SDE in reverse time tau = T - t (only the velocity score of the joint density is needed):
    dx = -beta M^-1 v dtau,
    dv = (beta x + Gamma beta M^-1 v + 2 Gamma beta s_v) dtau + sqrt(2 Gamma beta) dW;
the probability-flow ODE has Gamma beta s_v instead of 2 Gamma beta s_v and no noise. Its linear part
rotates phase space (frequencies up to beta / M = 16), so Euler in t needs a few hundred steps. The
default ``ode_stepping="exponential"`` integrates the linear part, Gaussian score included, exactly
(:meth:`gaussian_flow`, :mod:`course_lib.solvers.exponential`). The samplers use the quadratic
grid t_i = t_eps + (T - t_eps)(1 - i/N)^2 by default, which crowds the steps near t = 0. Notebook 10
measures both against Euler in t on the uniform grid: W1 on the two-mode toy with exact scores, and
the roughness of the policy's chunks.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from course_lib.sdes.base import (
    NetFn,
    TimeLike,
    mean_over_data,
    rand,
    randn,
    truncated_log_normal,
)
from course_lib.sdes.critical import Matrix2, critical_expm, critical_noise_cov
from course_lib.sdes.kernel import PhaseSpaceKernelSDE

#: Laws of the training times (see the module docstring).
TIME_LAWS = ("lognormal", "sqrt", "uniform")
#: Ways "euler" and "heun" step the probability-flow ODE.
ODE_STEPPINGS = ("exponential", "plain")
#: Points of the table that inverts sigma_eff(t) for the "lognormal" time law.
_SIGMA_TABLE_SIZE = 4097

#: Bounds on the RK4 substeps of :meth:`CLDHSM.gaussian_flow`: in r, and in ln(r + _FLOW_OFFSET).
_FLOW_STEP, _FLOW_LOG_STEP, _FLOW_OFFSET = 2e-3, 0.02, 1.0 / 800.0

#: Times whose preconditioning coefficients are kept (a few sampler grids' worth).
_COEFF_CACHE_SIZE = 4096


class HSMPreconditioning(NamedTuple):
    """CLD-HSM's network parameterisation at time t (see the module docstring), float64.

    eps_theta(u, t) = k_x x + k_v v + F((c_in_x x, c_in_v v), t): c_in scales x and v to unit
    variance for N(0, sd^2) data, (k_x, k_v) give the exact output for such data,
    k_x = -L_vv b / (a c - b^2), k_v = L_vv a / (a c - b^2), and the velocity score is
    s_v = -eps_theta / L_vv.
    """

    c_in_x: Tensor
    c_in_v: Tensor
    k_x: Tensor
    k_v: Tensor
    l_vv: Tensor


class CLDHSM(PhaseSpaceKernelSDE):
    """Dockhorn et al.'s CLD with hybrid score matching; ``score_fn`` returns the velocity score."""

    name = "cld-hsm"
    label = "CLD-HSM"
    color = "#9467bd"
    solvers = ("euler", "heun", "em", "sscs")
    default_sampler = ("em", 50)
    state_factor = 2
    #: Steps crowd near t_eps, where the velocity score is sharpest (L_vv -> sqrt(v0_var_factor M)).
    default_grid = "quadratic"

    def __init__(
        self,
        *,
        M: float = 0.25,
        Gamma: float = 1.0,
        beta: float = 4.0,
        v0_var_factor: float = 0.04,
        sigma_data: float = 0.5,
        time_law: str = "lognormal",
        ode_stepping: str = "exponential",
        p_mean: float = -1.2,
        p_std: float = 1.2,
        T: float = 1.0,
        t_eps: float = 1e-3,
    ):
        if M <= 0 or Gamma <= 0 or beta <= 0 or v0_var_factor < 0 or sigma_data <= 0:
            raise ValueError("need M, Gamma, beta, sigma_data > 0 and v0_var_factor >= 0")
        if time_law not in TIME_LAWS:
            raise ValueError(f"unknown time_law {time_law!r}; choose one of {TIME_LAWS}")
        if ode_stepping not in ODE_STEPPINGS:
            raise ValueError(
                f"unknown ode_stepping {ode_stepping!r}; choose one of {ODE_STEPPINGS}"
            )
        if p_std <= 0:
            raise ValueError(f"p_std must be positive, got {p_std}")
        if not math.isclose(Gamma**2, 4 * M, rel_tol=1e-9):
            raise ValueError(
                f"the closed-form kernel needs critical damping Gamma^2 = 4M; got Gamma={Gamma}, "
                f"M={M}"
            )
        super().__init__(T=T, t_eps=t_eps)
        self.M, self.Gamma, self.beta = float(M), float(Gamma), float(beta)
        self.v0_var_factor = float(v0_var_factor)
        self.sigma_data = float(sigma_data)
        self.time_law, self.p_mean, self.p_std = time_law, float(p_mean), float(p_std)
        #: How "euler" and "heun" step the probability-flow ODE: "exponential" (the linear part
        #: exactly, :mod:`course_lib.solvers.exponential`) or "plain" (in t, as for VP and VE).
        self.ode_stepping = ode_stepping
        #: Memo of closed-form coefficients by (kind, time or step), see ``_memo``.
        self._coeff_cache: dict[tuple, object] = {}
        #: Forward drift matrix F per dimension.
        self.F: Matrix2 = ((0.0, beta / M), (-beta, -Gamma * beta / M))
        #: Drift matrix of the linear part of the reverse SDE used by SSCS (see ``sscs_linear``).
        self.F_reverse: Matrix2 = ((0.0, -beta / M), (beta, -Gamma * beta / M))
        #: Squared diffusion on the velocity, 2 Gamma beta.
        self.q = 2.0 * Gamma * beta

    def _out(self, value: Tensor, t: TimeLike) -> Tensor:
        return value.to(t.dtype) if isinstance(t, Tensor) else value

    # ------------------------------------------------------------------ closed-form kernel
    def kernel_mean_coeffs(self, t: TimeLike) -> tuple[Tensor, Tensor]:
        """(m_x, m_v): E[x_t | x_0] = m_x x_0, E[v_t | x_0] = m_v x_0 (v_0 has mean 0)."""
        e11, _, e21, _ = critical_expm(self.F, self.time_tensor(t))
        return self._out(e11, t), self._out(e21, t)

    def kernel_cov(self, t: TimeLike) -> tuple[Tensor, Tensor, Tensor]:
        """(Sigma_xx, Sigma_xv, Sigma_vv) of u_t given x_0, with v_0 ~ N(0, v0_var_factor M)."""
        tt = self.time_tensor(t)
        _, e12, _, e22 = critical_expm(self.F, tt)
        c11, c12, c22 = critical_noise_cov(self.F, self.q, tt)
        v0 = self.v0_var_factor * self.M
        return (
            self._out(c11 + v0 * e12**2, t),
            self._out(c12 + v0 * e12 * e22, t),
            self._out(c22 + v0 * e22**2, t),
        )

    def kernel_cholesky(self, t: TimeLike) -> tuple[Tensor, Tensor, Tensor]:
        """(L_xx, L_vx, L_vv): lower Cholesky factor of Sigma(t) (L_vv = sqrt(Sigma_vv) at t=0)."""
        lxx, lvx, lvv = self._cholesky_from_cov(*self.kernel_cov(self.time_tensor(t)))
        return self._out(lxx, t), self._out(lvx, t), self._out(lvv, t)

    @staticmethod
    def _cholesky_from_cov(sxx: Tensor, sxv: Tensor, svv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        positive = sxx > 0
        safe = torch.where(positive, sxx, torch.ones_like(sxx))
        lxx = torch.sqrt(sxx)
        lvx = torch.where(positive, sxv / torch.sqrt(safe), torch.zeros_like(sxv))
        lvv = torch.sqrt(torch.where(positive, svv - sxv**2 / safe, svv))
        return lxx, lvx, lvv

    def sscs_linear(self, h: float) -> tuple[tuple[float, float, float, float], tuple[float, ...]]:
        """Exact step of length h of du = F_reverse u dtau + (0, sqrt(2 Gamma beta)) dW.

        Returns the entries (e11, e12, e21, e22) of e^{F_reverse h} and the noise covariance
        (C11, C12, C22); this linear part of the reverse SDE keeps the prior N(0, 1) x N(0, M).
        Memoised per h (a sampler's grid repeats at every call).
        """

        def compute():
            hh = torch.tensor(float(h), dtype=torch.float64)
            expm = tuple(float(e) for e in critical_expm(self.F_reverse, hh))
            cov = tuple(float(c) for c in critical_noise_cov(self.F_reverse, self.q, hh))
            return expm, cov

        return self._memo(("sscs", float(h)), compute)

    def gaussian_flow(self, t: float, t_next: float) -> tuple[tuple[float, ...], ...]:
        """Coefficients of the exponential integrators of the probability-flow ODE, t -> t_next.

        With s_v = -(eps_gauss(u) + F) / L_vv the ODE du/dt = F u - (0, Gamma beta s_v) reads
        du/dt = A(r) u + b(r) F, A = F + (Gamma beta / L_vv) [[0, 0], [k_x, k_v]],
        b = (0, Gamma beta / L_vv): linear in u except for the network's correction F, which is 0
        for N(0, sigma_data^2) data. Variation of constants gives, with Phi(t_next, r) the flow of A,
            u(t_next) = Phi u(t) + int Phi(t_next, r) b(r) F(r) dr.
        Returns ``(Phi, w0, w1)``: Phi = (Phi11, Phi12, Phi21, Phi22), w0 = int Phi b dr and
        w1 = int Phi b (r - t)/(t_next - t) dr, each (x, v), so that F held constant gives
        Phi u + w0 F and F interpolated linearly from F_t to F_next gives
        Phi u + (w0 - w1) F_t + w1 F_next. Computed by RK4 in float64 on substeps with h |A| of 0.03
        or less (phase space rotates at beta / M = 16; near t_eps the velocity is stiff, |A| about
        400), memoised per (t, t_next).
        """

        def compute():
            # substeps no longer than _FLOW_STEP (rotation at beta / M = 16) nor than
            # _FLOW_LOG_STEP in ln(r + r0) (stiff velocity near t_eps, |A| about min(400, 0.5 / r))
            ends = [math.log(r + _FLOW_OFFSET) for r in (t, t_next)]
            n_log = max(1, math.ceil(abs(ends[1] - ends[0]) / _FLOW_LOG_STEP))
            n_lin = max(1, math.ceil(abs(t_next - t) / _FLOW_STEP))
            knots = torch.cat(
                [
                    torch.exp(torch.linspace(*ends, n_log + 1, dtype=torch.float64)) - _FLOW_OFFSET,
                    torch.linspace(t, t_next, n_lin + 1, dtype=torch.float64),
                ]
            )
            knots = torch.unique(knots.clamp(min(t, t_next), max(t, t_next)))
            knots = knots.flip(0) if t_next < t else knots
            knots[0], knots[-1] = t, t_next
            n_sub = len(knots) - 1
            r = torch.empty(2 * n_sub + 1, dtype=torch.float64)  # knots, with midpoints between
            r[0::2], r[1::2] = knots, 0.5 * (knots[:-1] + knots[1:])
            coeffs = self.preconditioning(r.clamp(0.0, self.T))
            gain = self.Gamma * self.beta / coeffs.l_vv
            a = torch.tensor(self.F, dtype=torch.float64).expand(len(r), 2, 2).clone()
            a[:, 1, 0] += gain * coeffs.k_x
            a[:, 1, 1] += gain * coeffs.k_v
            ramp = (r - t) / (t_next - t)
            # augmented state Y = [Phi | w0 | w1] (2 x 4): dY/dr = A Y + [0 | b | b ramp]
            forcing = torch.zeros(len(r), 2, 4, dtype=torch.float64)
            forcing[:, 1, 2], forcing[:, 1, 3] = gain, gain * ramp
            y = torch.zeros(2, 4, dtype=torch.float64)
            y[0, 0] = y[1, 1] = 1.0
            for k in range(n_sub):
                i = 2 * k
                h = float(r[i + 2] - r[i])
                k1 = a[i] @ y + forcing[i]
                k2 = a[i + 1] @ (y + 0.5 * h * k1) + forcing[i + 1]
                k3 = a[i + 1] @ (y + 0.5 * h * k2) + forcing[i + 1]
                k4 = a[i + 2] @ (y + h * k3) + forcing[i + 2]
                y = y + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            phi = (float(y[0, 0]), float(y[0, 1]), float(y[1, 0]), float(y[1, 1]))
            return phi, (float(y[0, 2]), float(y[1, 2])), (float(y[0, 3]), float(y[1, 3]))

        return self._memo(("flow", float(t), float(t_next)), compute)

    # ------------------------------------------------------------------ the process
    def drift(self, x: Tensor, t: TimeLike) -> Tensor:
        """f(x, v) = (beta v / M, -beta x - Gamma beta v / M)."""
        self.time_tensor(t, batch=x.shape[0])
        pos, vel = self.positions(x), self.momenta(x)
        return torch.cat(
            [self.beta / self.M * vel, -self.beta * pos - self.Gamma * self.beta / self.M * vel],
            dim=-1,
        )

    def diffusion(self, t: TimeLike) -> Tensor:
        """g = sqrt(2 Gamma beta), on the velocity only."""
        tt = self.time_tensor(t)
        return self._out(torch.full_like(tt, math.sqrt(self.q)), t)

    def initial_state(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(x_0, v_0) with v_0 ~ N(0, v0_var_factor M)."""
        v0 = randn(tuple(x0.shape), generator=generator, device=x0.device, dtype=x0.dtype)
        return torch.cat([x0, math.sqrt(self.v0_var_factor * self.M) * v0], dim=-1)

    def prior_sample(self, shape, generator=None, device=None, dtype=None) -> Tensor:
        """The stationary law: x ~ N(0, I), v ~ N(0, M I); returns (batch, ..., 2 d)."""
        shape = tuple(shape)
        z = randn((*shape[:-1], 2 * shape[-1]), generator=generator, device=device, dtype=dtype)
        scale = torch.ones(2 * shape[-1], dtype=z.dtype, device=z.device)
        scale[shape[-1] :] = math.sqrt(self.M)
        return z * scale

    def perturb(
        self, x0: Tensor, t: TimeLike, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draw u_t = mean(x_0) + L eps; returns (state, eps) with eps of the state's shape."""
        tt = self.time_tensor(t, batch=x0.shape[0], device=x0.device)
        shape = (*x0.shape[:-1], 2 * x0.shape[-1])
        eps = randn(shape, generator=generator, device=x0.device, dtype=x0.dtype)
        d = x0.shape[-1]
        eps_x, eps_v = eps[..., :d], eps[..., d:]
        mx, mv = (self.broadcast(c, x0) for c in self.kernel_mean_coeffs(tt))
        lxx, lvx, lvv = (self.broadcast(c, x0) for c in self.kernel_cholesky(tt))
        pos = mx * x0 + lxx * eps_x
        vel = mv * x0 + lvx * eps_x + lvv * eps_v
        return torch.cat([pos, vel], dim=-1), eps

    # ------------------------------------------------------------------ parameterisation
    def preconditioning(self, t: TimeLike) -> HSMPreconditioning:
        """The coefficients ``(c_in_x, c_in_v, k_x, k_v, l_vv)`` at t, in float64.

        c_in scales (x, v) to unit variance for N(0, sd^2) data; eps_gauss = k_x x + k_v v with
        k_x = -L_vv b / (a c - b^2), k_v = L_vv a / (a c - b^2).
        """
        tt = self.time_tensor(t)
        mx, mv = self.kernel_mean_coeffs(tt)
        sxx, sxv, svv = self.kernel_cov(tt)
        lvv = self._cholesky_from_cov(sxx, sxv, svv)[2]
        sd2 = self.sigma_data**2
        a, b, c = sd2 * mx**2 + sxx, sd2 * mx * mv + sxv, sd2 * mv**2 + svv
        det = a * c - b**2
        return HSMPreconditioning(a.rsqrt(), c.rsqrt(), -lvv * b / det, lvv * a / det, lvv)

    def _precond(self, state: Tensor, t: TimeLike) -> HSMPreconditioning:
        """:meth:`preconditioning` at the state's times, shaped to multiply the state."""
        tt = self.time_tensor(t, batch=state.shape[0], device=state.device)
        if tt.dim() == 0 or bool((tt == tt[0]).all()):  # a sampler's step: one time for all
            coeffs = self._preconditioning_at(float(tt.max()))
        else:
            coeffs = self.preconditioning(tt)
        return HSMPreconditioning._make(self.broadcast(c, state) for c in coeffs)

    def _preconditioning_at(self, t: float) -> HSMPreconditioning:
        """``preconditioning(t)`` for one time, memoised: samplers revisit the same grid each call."""
        return self._memo(("precond", t), lambda: self.preconditioning(t))

    def _memo(self, key: tuple, compute):
        """Per-instance memo of closed-form coefficients (cleared when it holds too many)."""
        if key not in self._coeff_cache:
            if len(self._coeff_cache) >= _COEFF_CACHE_SIZE:
                self._coeff_cache.clear()
            self._coeff_cache[key] = compute()
        return self._coeff_cache[key]

    def _gaussian_eps(self, state: Tensor, coeffs: HSMPreconditioning) -> Tensor:
        return coeffs.k_x * self.positions(state) + coeffs.k_v * self.momenta(state)

    def network_inputs(self, state: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """x_in = (c_in_x x_t, c_in_v v_t), c_noise = t."""
        self.data_dim(state)
        coeffs = self._precond(state, t)
        x_in = torch.cat(
            [coeffs.c_in_x * self.positions(state), coeffs.c_in_v * self.momenta(state)], dim=-1
        )
        return x_in, self.batch_times(t, state.shape[0], state)

    def input_scales(self, t: TimeLike) -> tuple[Tensor, Tensor]:
        """``(c_in_x, c_in_v)``: the factors :meth:`network_inputs` applies to x and v."""
        coeffs = self.preconditioning(t)
        return self._out(coeffs.c_in_x, t), self._out(coeffs.c_in_v, t)

    def score_from_output(self, output: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """Velocity score s_v = -(eps_gauss + F) / L_vv(t)."""
        self.check_output(output, state)
        coeffs = self._precond(state, t)
        return -(self._gaussian_eps(state, coeffs) + output) / coeffs.l_vv

    def output_from_score(self, score: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """F = -L_vv(t) s_v - eps_gauss."""
        coeffs = self._precond(state, t)
        return -coeffs.l_vv * score - self._gaussian_eps(state, coeffs)

    def effective_sigma(self, t: TimeLike) -> Tensor:
        """sigma_eff(t) = (m^T Sigma(t)^-1 m)^-1/2: the VE noise level u_t is as informative as.

        The best linear unbiased estimate of x_0 from u_t, m^T Sigma^-1 u_t / (m^T Sigma^-1 m), has
        error std sigma_eff; it increases from 7e-4 at t_eps to 250 at T = 1 (default parameters).
        """
        tt = self.time_tensor(t)
        mx, mv = self.kernel_mean_coeffs(tt)
        sxx, sxv, svv = self.kernel_cov(tt)
        info = (mx**2 * svv - 2 * mx * mv * sxv + mv**2 * sxx) / (sxx * svv - sxv**2)
        return self._out(info.rsqrt(), t)

    def _sigma_table(self) -> tuple[Tensor, Tensor]:
        """(ln sigma_eff, t) on a geometric grid of t from t_eps to T, for inverting sigma_eff."""

        def compute():
            lo = max(self.t_eps, 1e-6)
            tt = torch.logspace(
                math.log10(lo), math.log10(self.T), _SIGMA_TABLE_SIZE, dtype=torch.float64
            )
            log_sigma = torch.log(self.effective_sigma(tt))
            if not bool((log_sigma.diff() > 0).all()):
                raise ValueError("sigma_eff(t) is not increasing for these CLD parameters")
            return log_sigma, tt

        return self._memo(("sigma_table",), compute)

    def time_of_sigma(self, sigma: Tensor) -> Tensor:
        """Inverse of :meth:`effective_sigma` (float64; log-linear interpolation of a table)."""
        log_table, t_table = (v.to(sigma.device) for v in self._sigma_table())
        log_sigma = torch.log(sigma.to(torch.float64)).clamp(log_table[0], log_table[-1])
        hi = torch.searchsorted(log_table, log_sigma).clamp(1, len(log_table) - 1)
        lo = hi - 1
        w = (log_sigma - log_table[lo]) / (log_table[hi] - log_table[lo])
        return torch.exp(torch.log(t_table[lo]) * (1 - w) + torch.log(t_table[hi]) * w)

    def sample_time(self, batch, generator=None, device=None, dtype=torch.float32) -> Tensor:
        """Training times by ``time_law``: ln sigma_eff(t) ~ N(p_mean, p_std^2) truncated to
        [sigma_eff(t_eps), sigma_eff(T)] ("lognormal"), t_eps + (T - t_eps) w^2 ("sqrt") or
        uniform on [t_eps, T], with w ~ U[0, 1]."""
        if self.time_law == "uniform":
            return super().sample_time(batch, generator, device, dtype)
        if self.time_law == "sqrt":
            w = rand((batch,), generator=generator, device=device, dtype=torch.float64)
            return (self.t_eps + (self.T - self.t_eps) * w**2).to(dtype)
        log_table, _ = self._sigma_table()
        log_sigma = truncated_log_normal(
            batch,
            self.p_mean,
            self.p_std,
            float(log_table[0]),
            float(log_table[-1]),
            generator=generator,
            device=device,
        )
        return self.time_of_sigma(log_sigma.exp()).clamp(self.t_eps, self.T).to(dtype)

    def loss(self, net_fn: NetFn, x0: Tensor, generator=None, t=None) -> Tensor:
        """Hybrid score matching, lambda = L_vv^2: ||eps_v - eps_theta(u_t, t)||^2, data mean."""
        x0 = self._check_data(x0)
        tt = self._loss_times(x0, t, generator)
        state, eps = self.perturb(x0, tt, generator)
        output = self._run_net(net_fn, state, tt)
        predicted = self._gaussian_eps(state, self._precond(state, tt)) + output
        return mean_over_data((predicted - self.momenta(eps)) ** 2)

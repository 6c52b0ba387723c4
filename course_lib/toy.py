"""Gaussian-mixture targets whose diffused marginals and scores are known exactly.

For data x_0 ~ sum_k w_k N(mu_k, diag(s_k^2)) and a kernel x_t | x_0 ~ N(m(t) x_0, std(t)^2 I), the
marginal is again a mixture: p_t = sum_k w_k N(m mu_k, diag(m^2 s_k^2 + std^2)), so its score is
    grad log p_t(x) = sum_k r_k(x) (m mu_k - x) / (m^2 s_k^2 + std^2),   r_k = responsibilities.
This covers vp, ve, ve-edm and the position marginal of the paper's "cld". For "cld-hsm" the joint
law of (x_t, v_t) is, per dimension and component, N((m_x mu, m_v mu), Sigma(t) + s^2 m m^T) with
m = (m_x, m_v); the velocity score is the v-part of sum_k r_k (-C_k^{-1}(u - mean_k)).

Also here: presets, the one toy sampler (``sample``: ``solvers.sample`` with a preset's exact score),
the one exact reference draw per preset that every W1 is measured against (``reference_draw``), and
the metrics the tests and notebooks use (1-D Wasserstein distance, relative variance error, fitted
convergence order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache

import torch
from torch import Tensor

from course_lib import solvers
from course_lib.arguments import check_count
from course_lib.sdes import SDE, IsotropicKernelSDE, PhaseSpaceKernelSDE
from course_lib.sdes.base import rand, randn

ArrayLike = Sequence[float] | Sequence[Sequence[float]] | Tensor
_LOG_2PI = math.log(2.0 * math.pi)


class GaussianMixture:
    """A mixture of axis-aligned Gaussians in d dimensions (d = 1 when ``means`` is 1-D).

    ``weights`` (K,), ``means`` (K,) or (K, d), ``stds`` (K,) (isotropic) or (K, d) (diagonal).
    Samples have shape (n, d).
    """

    def __init__(self, weights: ArrayLike, means: ArrayLike, stds: ArrayLike):
        w = torch.as_tensor(weights, dtype=torch.float64).flatten()
        mu = torch.as_tensor(means, dtype=torch.float64)
        if mu.dim() == 1:
            mu = mu[:, None]
        sd = torch.as_tensor(stds, dtype=torch.float64)
        if sd.dim() == 1:
            sd = sd[:, None].expand(-1, mu.shape[1])
        if mu.dim() != 2 or mu.shape[0] != w.shape[0] or tuple(sd.shape) != tuple(mu.shape):
            raise ValueError(
                f"need weights (K,), means (K,) or (K, d), stds (K,) or (K, d); got "
                f"{tuple(w.shape)}, {tuple(torch.as_tensor(means).shape)}, {tuple(sd.shape)}"
            )
        if bool((w <= 0).any()) or bool((sd <= 0).any()):
            raise ValueError("weights and stds must be positive")
        self.weights = w / w.sum()
        self.means = mu.clone()
        self.stds = sd.clone()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(K={len(self.weights)}, d={self.dim})"

    @property
    def dim(self) -> int:
        """Dimension d of the data."""
        return self.means.shape[1]

    def mean(self) -> Tensor:
        """E[x], shape (d,)."""
        return self.weights @ self.means

    def variance(self) -> Tensor:
        """Var[x] per dimension, shape (d,)."""
        second = self.weights @ (self.stds**2 + self.means**2)
        return second - self.mean() ** 2

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """n exact draws, shape (n, d)."""
        u = rand((n,), generator=generator, dtype=torch.float64)
        comp = torch.searchsorted(torch.cumsum(self.weights, 0), u).clamp(max=len(self.weights) - 1)
        z = randn((n, self.dim), generator=generator, dtype=torch.float64)
        return (self.means[comp] + self.stds[comp] * z).to(dtype)

    # ------------------------------------------------------------------ marginals of p_t
    def position_marginal(self, sde: SDE, t: float) -> tuple[Tensor, Tensor]:
        """Component means and variances (K, d) of the data-space marginal p_t under ``sde``."""
        if isinstance(sde, PhaseSpaceKernelSDE):
            mx, _ = sde.kernel_mean_coeffs(t)
            sxx = sde.kernel_cov(t)[0]
            return float(mx) * self.means, float(mx) ** 2 * self.stds**2 + float(sxx)
        m, s = self._kernel_coeffs(sde, t)
        return float(m) * self.means, float(m) ** 2 * self.stds**2 + float(s) ** 2

    def state_covariance(self, sde: SDE, t: float) -> Tensor:
        """Per-dimension covariance (d, k, k) of the state at t, k = state_factor.

        Isotropic kernels: m^2 Var[x_0] + std^2. CLD-HSM: Sigma(t) + Var[x_0] m m^T, m = (m_x, m_v).
        """
        var0 = self.variance()
        if isinstance(sde, PhaseSpaceKernelSDE):
            m = torch.stack([c.reshape(()) for c in sde.kernel_mean_coeffs(t)])
            sxx, sxv, svv = (float(c) for c in sde.kernel_cov(t))
            sigma = torch.tensor([[sxx, sxv], [sxv, svv]], dtype=torch.float64)
            return sigma + var0[:, None, None] * torch.outer(m, m)
        m, s = self._kernel_coeffs(sde, t)
        cov = float(m) ** 2 * var0 + float(s) ** 2
        if sde.state_factor == 1:
            return cov[:, None, None]
        raise ValueError(f"the joint state law of {sde.name!r} is not Gaussian in closed form")

    def marginal_density(self, sde: SDE, x: Tensor, t: float) -> Tensor:
        """Density of the data-space marginal p_t at points x of shape (n,) (d = 1) or (n, d)."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.dim() == 1 and self.dim == 1:
            x = x[:, None]
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        means, var = self.position_marginal(sde, t)
        diff = x[:, None, :] - means[None]
        log_comp = -0.5 * (diff**2 / var + torch.log(var) + _LOG_2PI).sum(-1)
        return torch.exp(torch.logsumexp(torch.log(self.weights) + log_comp, dim=1))

    def score_fn(self, sde: SDE) -> Callable[[Tensor, Tensor], Tensor]:
        """Exact ``score_fn(state, t)`` for ``solvers.sample`` under ``sde`` (see module doc).

        Returns grad_x log p_t for vp/ve/ve-edm, the position score of the paper's marginal for
        "cld", and the velocity score of the joint phase-space density for "cld-hsm". States of
        shape (batch, ..., d * state_factor) are treated as independent d-dimensional draws.
        """
        if isinstance(sde, PhaseSpaceKernelSDE):
            return lambda state, t: self._velocity_score(sde, state, t)
        if isinstance(sde, IsotropicKernelSDE):
            return lambda state, t: self._position_score(sde, state, t)
        raise ValueError(f"no exact score for SDE {sde.name!r}")

    # ------------------------------------------------------------------ internals
    def _kernel_coeffs(self, sde: SDE, t) -> tuple[Tensor, Tensor]:
        if not isinstance(sde, IsotropicKernelSDE):
            raise ValueError(f"no isotropic kernel for SDE {sde.name!r}")
        tt = sde.time_tensor(t)
        return sde.mean_coeff(tt), sde.std(tt)

    def _check_state(self, sde: SDE, state: Tensor, t: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        """Validated times: a 0-d tensor when all samples share one time (the solvers' case)."""
        if sde.data_dim(state) != self.dim:
            raise ValueError(
                f"state carries d={sde.data_dim(state)} but the mixture has d={self.dim}"
            )
        if isinstance(t, Tensor) and t.dim() == 1 and t.shape[0] == state.shape[0]:
            if bool((t == t[0]).all()):
                t = t[0]
        tt = sde.time_tensor(t, batch=state.shape[0], device=state.device)
        if tt.dim() == 0:
            return tt.cpu(), ()
        # per-sample coefficients of shape (batch, 1, ..., 1) against x of shape (batch, ..., d)
        return tt, (state.shape[0], *([1] * (state.dim() - 1)))

    @staticmethod
    def _as_coef(value: Tensor, view: tuple[int, ...], device) -> Tensor:
        return value.reshape(view).to(device) if view else value.to(device)

    def _combine(self, log_comps: list[Tensor], scores: list[Tensor], dtype) -> Tensor:
        """sum_k r_k score_k with r = softmax(log_comps), looping over the few components."""
        if len(scores) == 1:
            return scores[0].to(dtype)
        top = torch.stack(log_comps).amax(dim=0)
        num = torch.zeros_like(scores[0])
        den = torch.zeros_like(top)
        for log_c, score in zip(log_comps, scores, strict=True):
            r = torch.exp(log_c - top)
            num += r[..., None] * score
            den += r
        return (num / den[..., None]).to(dtype)

    def _position_score(self, sde: IsotropicKernelSDE, state: Tensor, t: Tensor) -> Tensor:
        tt, view = self._check_state(sde, state, t)
        dev = state.device
        m = self._as_coef(sde.mean_coeff(tt), view, dev)
        s2 = self._as_coef(sde.std(tt), view, dev) ** 2
        x = sde.positions(state).to(torch.float64)
        log_comps, scores = [], []
        for w, mu, sd in zip(self.weights, self.means.to(dev), self.stds.to(dev), strict=True):
            var = m**2 * sd**2 + s2
            diff = x - m * mu
            scores.append(-diff / var)
            log_comps.append(math.log(w) - 0.5 * (diff**2 / var + torch.log(var)).sum(-1))
        return self._combine(log_comps, scores, state.dtype)

    def _velocity_score(self, sde: PhaseSpaceKernelSDE, state: Tensor, t: Tensor) -> Tensor:
        tt, view = self._check_state(sde, state, t)
        dev = state.device
        mx, mv = (self._as_coef(c, view, dev) for c in sde.kernel_mean_coeffs(tt))
        sxx, sxv, svv = (self._as_coef(c, view, dev) for c in sde.kernel_cov(tt))
        pos = sde.positions(state).to(torch.float64)
        vel = sde.momenta(state).to(torch.float64)
        log_comps, scores = [], []
        for w, mu, sd in zip(self.weights, self.means.to(dev), self.stds.to(dev), strict=True):
            var0 = sd**2
            cxx, cxv, cvv = sxx + mx**2 * var0, sxv + mx * mv * var0, svv + mv**2 * var0
            det = cxx * cvv - cxv**2
            dx, dv = pos - mx * mu, vel - mv * mu
            scores.append((cxv * dx - cxx * dv) / det)
            quad = (cvv * dx**2 - 2.0 * cxv * dx * dv + cxx * dv**2) / det
            log_comps.append(math.log(w) - 0.5 * (quad + torch.log(det)).sum(-1))
        return self._combine(log_comps, scores, state.dtype)


class GaussianMixture2D(GaussianMixture):
    """A 2-D mixture: ``means`` (K, 2), ``stds`` (K,) isotropic or (K, 2) diagonal."""

    def __init__(self, weights: ArrayLike, means: ArrayLike, stds: ArrayLike):
        super().__init__(weights, means, stds)
        if self.dim != 2:
            raise ValueError(f"GaussianMixture2D needs means of shape (K, 2), got d={self.dim}")


# ---------------------------------------------------------------------- presets
def two_mode_1d() -> GaussianMixture:
    """Weights 0.3/0.7, means -1/1, stds 0.15/0.25 (the MATH_NOTES test mixture)."""
    return GaussianMixture([0.3, 0.7], [-1.0, 1.0], [0.15, 0.25])


def gaussian_1d(std: float = 0.5) -> GaussianMixture:
    """N(0, std^2) as a one-component mixture."""
    return GaussianMixture([1.0], [0.0], [std])


def three_mode_2d() -> GaussianMixture2D:
    """Three unequal, anisotropic modes inside [-1, 1]^2 (notebook 05's target)."""
    return GaussianMixture2D(
        [0.2, 0.3, 0.5],
        [[-0.6, -0.5], [0.6, -0.4], [0.0, 0.6]],
        [[0.10, 0.20], [0.15, 0.15], [0.25, 0.10]],
    )


#: The presets by name, as the toy sampler and the reference draw take them.
TARGETS: dict[str, Callable[[], GaussianMixture]] = {
    "gaussian": gaussian_1d,
    "two-mode": two_mode_1d,
    "three-mode-2d": three_mode_2d,
}
#: Size and seed of the one exact reference draw per preset that W1 is measured against.
REFERENCE_SIZE = 50_000
REFERENCE_SEED = 1


def preset(name: str | GaussianMixture) -> GaussianMixture:
    """The preset ``name`` (one of :data:`TARGETS`); a mixture is returned as it is."""
    if isinstance(name, GaussianMixture):
        return name
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; valid targets are {tuple(TARGETS)}")
    return TARGETS[name]()


@cache
def reference_draw(name: str = "two-mode") -> Tensor:
    """The exact draw (REFERENCE_SIZE, d), float64, of preset ``name`` (seed REFERENCE_SEED) that
    every W1 of the course is measured against, so figures of different notebooks compare.
    Cached: do not modify it in place."""
    gen = torch.Generator().manual_seed(REFERENCE_SEED)
    return preset(name).sample(REFERENCE_SIZE, generator=gen, dtype=torch.float64)


def sample(
    sde: SDE,
    solver: str,
    steps: int,
    *,
    target: str | GaussianMixture = "two-mode",
    n_samples: int = 4000,
    seed: int = 0,
    grid: str | None = None,
    denoise_final: bool | None = None,
    return_path: bool = False,
) -> Tensor | tuple[Tensor, solvers.Path]:
    """The toy sampler: ``solvers.sample`` from the prior with the exact score of a preset.

    Returns positions (n_samples, d) in float64, with the :class:`course_lib.solvers.Path` (full
    phase-space states) when ``return_path``. The generator is seeded with ``seed``.
    """
    check_count(steps=steps, n_samples=n_samples)
    mixture = preset(target)
    return solvers.sample(
        sde,
        mixture.score_fn(sde),
        (n_samples, mixture.dim),
        solver=solver,
        steps=steps,
        grid=grid,
        denoise_final=denoise_final,
        generator=torch.Generator().manual_seed(seed),
        return_path=return_path,
        dtype=torch.float64,
    )


# ---------------------------------------------------------------------- metrics
def w1_to_reference(samples: Tensor, name: str = "two-mode") -> float:
    """W1 between 1-D ``samples`` and the reference draw of preset ``name``; inf if not finite."""
    x = torch.as_tensor(samples, dtype=torch.float64).flatten()
    if not bool(torch.isfinite(x).all()):
        return math.inf
    return wasserstein1_1d(x, reference_draw(name))


def sample_metrics(samples: Tensor, name: str = "two-mode") -> dict[str, float]:
    """``variance_ratio`` Var(samples) / Var(data), ``variance_error`` |ratio - 1| and ``w1`` (to
    the reference draw) of 1-D samples of preset ``name``; all inf when a sample is not finite."""
    x = torch.as_tensor(samples, dtype=torch.float64).flatten()
    if not bool(torch.isfinite(x).all()):
        return {"variance_ratio": math.inf, "variance_error": math.inf, "w1": math.inf}
    ratio = float(x.var()) / float(preset(name).variance()[0])
    return {
        "variance_ratio": ratio,
        "variance_error": abs(ratio - 1.0),
        "w1": wasserstein1_1d(x, reference_draw(name)),
    }


def wasserstein1_1d(a: Tensor, b: Tensor) -> float:
    """W1 between the empirical laws of two 1-D samples: integral of |F_a - F_b| over the line."""
    a = torch.as_tensor(a, dtype=torch.float64).flatten().sort().values
    b = torch.as_tensor(b, dtype=torch.float64).flatten().sort().values
    if a.numel() == 0 or b.numel() == 0:
        raise ValueError("both samples must be non-empty")
    support = torch.cat([a, b]).sort().values
    widths = support[1:] - support[:-1]
    cdf_a = torch.searchsorted(a, support[:-1], right=True).to(torch.float64) / a.numel()
    cdf_b = torch.searchsorted(b, support[:-1], right=True).to(torch.float64) / b.numel()
    return float(((cdf_a - cdf_b).abs() * widths).sum())


def variance_error(samples: Tensor, target_variance: float | Tensor) -> float:
    """Largest relative error |Var - target| / target over the last dimension of ``samples``."""
    x = torch.as_tensor(samples, dtype=torch.float64)
    x = x.reshape(-1, x.shape[-1]) if x.dim() > 1 else x[:, None]
    target = torch.as_tensor(target_variance, dtype=torch.float64).expand(x.shape[1])
    return float(((x.var(dim=0) - target).abs() / target).max())


def convergence_order(steps_list: Sequence[int], errors: Sequence[float]) -> float:
    """Least-squares slope p of log(error) = c - p log(steps): the observed order of convergence."""
    n = torch.as_tensor(steps_list, dtype=torch.float64)
    e = torch.as_tensor(errors, dtype=torch.float64)
    if n.numel() != e.numel() or n.numel() < 2:
        raise ValueError("need at least two (steps, error) pairs of equal length")
    if bool((n <= 0).any()) or bool((e <= 0).any()):
        raise ValueError("steps and errors must be positive")
    lx, ly = torch.log(n), torch.log(e)
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum()
    return float(-slope)

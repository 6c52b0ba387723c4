"""Figures of the stochastic-calculus notebooks 01-05, each a pure function returning a Figure.

Every function is deterministic given its arguments (randomness comes from ``seed``), so the
sliders of :mod:`course_lib.widgets.calculus` and the tests draw the same figure. Closed forms come
from :mod:`course_lib.symbolic` (lambdified) or from :mod:`course_lib.sdes`; samplers from
:mod:`course_lib.solvers`; the exact-score targets from :mod:`course_lib.toy`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
import torch
from matplotlib.figure import Figure

from course_lib import symbolic
from course_lib.symbolic import core as sym

#: One colour per sampler, shared by every figure of notebooks 03-05.
SOLVER_COLORS = {"euler": "#d62728", "heun": "#1f77b4", "em": "#2ca02c", "sscs": "#9467bd"}


def _sde(name: str, **overrides):
    from course_lib import sdes

    return sdes.get(name, **overrides)


def _subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """``plt.subplots`` with constrained layout (computed when the figure is drawn, not before)."""
    return plt.subplots(nrows, ncols, layout="constrained", **kwargs)


def _as_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value}")


# ---------------------------------------------------------------------------------------------
# 01: Brownian motion, Ito's lemma, Ornstein-Uhlenbeck
# ---------------------------------------------------------------------------------------------


def brownian_increments(n_paths: int, steps: int, horizon: float, seed: int) -> np.ndarray:
    """Increments dW ~ N(0, dt), shape (n_paths, steps), from a seeded generator."""
    if n_paths < 1 or steps < 1:
        raise ValueError(f"need n_paths >= 1 and steps >= 1, got {n_paths}, {steps}")
    _check_positive(horizon=horizon)
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, math.sqrt(horizon / steps), size=(n_paths, steps))


def brownian_figure(n_paths: int = 30, steps: int = 1000, seed: int = 0) -> Figure:
    """Paths of W on [0, 1] inside +-2 sqrt(t), and the quadratic variation sum (dW)^2 -> t."""
    dw = brownian_increments(n_paths, steps, 1.0, seed)
    times = np.linspace(0.0, 1.0, steps + 1)
    paths = np.concatenate([np.zeros((n_paths, 1)), np.cumsum(dw, axis=1)], axis=1)
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(10, 3.6))
    ax0.plot(times, paths.T, lw=0.6, alpha=0.7)
    ax0.fill_between(times, -2 * np.sqrt(times), 2 * np.sqrt(times), color="grey", alpha=0.2)
    ax0.set(xlabel="t", ylabel="$W_t$", title=r"Brownian paths and $\pm 2\sqrt{t}$")
    qv = np.concatenate([np.zeros((n_paths, 1)), np.cumsum(dw**2, axis=1)], axis=1)
    ax1.plot(times, qv.T, lw=0.6, alpha=0.5)
    ax1.plot(times, times, "k--", label="t")
    ax1.set(xlabel="t", ylabel=r"$\sum (\Delta W)^2$", title="quadratic variation $[W]_t = t$")
    ax1.legend()
    return fig


def ito_lemma_figure(steps: int = 1000, seed: int = 0) -> Figure:
    """One path: W_t^2 against the Ito integral 2 int W dW, which misses it by exactly [W]_t ~ t.

    With left-point sums I_t = sum W_k dW_k, W_t^2 = 2 I_t + sum (dW_k)^2 holds exactly; the last
    sum tends to t, which is the dt term of d(W^2) = dt + 2 W dW.
    """
    dw = brownian_increments(1, steps, 1.0, seed)[0]
    w = np.concatenate([[0.0], np.cumsum(dw)])
    ito = np.concatenate([[0.0], np.cumsum(w[:-1] * dw)])
    times = np.linspace(0.0, 1.0, steps + 1)
    fig, ax = _subplots(figsize=(6, 3.6))
    ax.plot(times, w**2, label="$W_t^2$", lw=2)
    ax.plot(times, 2 * ito + times, "--", label=r"$2\int_0^t W\,dW + t$")
    ax.plot(times, 2 * ito, ":", label=r"$2\int_0^t W\,dW$ (Ito, left point)")
    ax.set(xlabel="t", title=f"Ito's lemma on one path ({steps} steps)")
    ax.legend()
    return fig


@cache
def _ou_moment_functions() -> tuple[Callable, Callable]:
    result = symbolic.ou_moments()
    theta, sigma = sp.symbols("theta sigma", positive=True)
    args = [sym.t, sym.x0, theta, sigma]
    return result.function("mean", args), result.function("variance", args)


def ou_figure(
    theta: float = 1.0,
    sigma: float = 0.5,
    x0: float = 2.0,
    n_paths: int = 200,
    horizon: float = 5.0,
    steps: int = 500,
    seed: int = 0,
) -> Figure:
    """Euler-Maruyama paths of dX = -theta X dt + sigma dW against the exact mean +- 2 std.

    The band is the sympy result of :func:`course_lib.symbolic.ou_moments`, lambdified; the right
    panel compares the paths at the horizon with N(mean, variance).
    """
    _check_positive(theta=theta, sigma=sigma, horizon=horizon)
    dt = horizon / steps
    dw = brownian_increments(n_paths, steps, horizon, seed)
    paths = np.empty((n_paths, steps + 1))
    paths[:, 0] = x0
    for k in range(steps):
        paths[:, k + 1] = paths[:, k] - theta * paths[:, k] * dt + sigma * dw[:, k]
    times = np.linspace(0.0, horizon, steps + 1)
    mean_fn, var_fn = _ou_moment_functions()
    mean = mean_fn(times, x0, theta, sigma)
    std = np.sqrt(var_fn(times, x0, theta, sigma))
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(10, 3.6), width_ratios=[2.2, 1])
    ax0.plot(times, paths[:40].T, lw=0.5, alpha=0.6)
    ax0.plot(times, mean, "k", lw=2, label="exact mean")
    ax0.fill_between(times, mean - 2 * std, mean + 2 * std, color="k", alpha=0.15, label="±2 std")
    ax0.set(xlabel="t", ylabel="$X_t$", title=rf"OU: $\theta$={theta:g}, $\sigma$={sigma:g}")
    ax0.legend(loc="upper right")
    end = paths[:, -1]
    grid = np.linspace(end.min() - 0.5, end.max() + 0.5, 200)
    density = np.exp(-((grid - mean[-1]) ** 2) / (2 * std[-1] ** 2)) / (
        std[-1] * np.sqrt(2 * np.pi)
    )
    ax1.hist(end, bins=30, density=True, alpha=0.5, label=f"{n_paths} paths")
    ax1.plot(grid, density, "k", label="exact law")
    ax1.set(xlabel=f"$X_{{{horizon:g}}}$", title="law at the horizon")
    ax1.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# 02: the VP SDE
# ---------------------------------------------------------------------------------------------


def _vp(s: float, T: float):
    return _sde("vp", s=s, T=T)


def vp_schedule_figure(s: float = 0.008, T: float = 0.9946) -> Figure:
    """The cosine schedule: abar(t), kernel mean coefficient and std, and beta(t) (log scale)."""
    sde = _vp(s, T)
    times = torch.linspace(0.0, sde.T, 400, dtype=torch.float64)
    abar = _as_numpy(sde.alpha_bar(times))
    beta = _as_numpy(sde.beta(times))
    tt = times.numpy()
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(10, 3.6))
    ax0.plot(tt, abar, label=r"$\bar\alpha(t)$")
    ax0.plot(tt, np.sqrt(abar), label=r"mean coef. $\sqrt{\bar\alpha}$")
    ax0.plot(tt, np.sqrt(1 - abar), label=r"std $\sqrt{1-\bar\alpha}$")
    ax0.set(xlabel="t", title=f"cosine schedule, s = {s:g}, T = {sde.T:g}")
    ax0.legend()
    ax1.semilogy(tt, beta)
    ax1.set(xlabel="t", ylabel=r"$\beta(t)$", title=rf"$\beta(T)$ = {beta[-1]:.3g}")
    ax1.text(0.03, 0.9, rf"$\bar\alpha(T)$ = {abar[-1]:.2e}", transform=ax1.transAxes)
    return fig


def vp_forward_paths(
    s: float, T: float, x0: float, n_paths: int, steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Forward VP paths sampled with the exact transition between grid times.

    x_{k+1} = sqrt(abar_{k+1}/abar_k) x_k + sqrt(1 - abar_{k+1}/abar_k) z (the kernel restarted at
    t_k), so the paths have the right law however coarse the grid. Returns (times, paths).
    """
    sde = _vp(s, T)
    times = torch.linspace(0.0, sde.T, steps + 1, dtype=torch.float64)
    log_abar = _as_numpy(sde.log_alpha_bar(times))
    ratio = np.exp(np.diff(log_abar))
    rng = np.random.default_rng(seed)
    paths = np.empty((n_paths, steps + 1))
    paths[:, 0] = x0
    for k in range(steps):
        noise = rng.standard_normal(n_paths)
        paths[:, k + 1] = np.sqrt(ratio[k]) * paths[:, k] + np.sqrt(1 - ratio[k]) * noise
    return times.numpy(), paths


def vp_paths_figure(
    s: float = 0.008, T: float = 0.9946, x0: float = 1.5, n_paths: int = 100, seed: int = 0
) -> Figure:
    """Forward VP sample paths from a_0 = x0 inside the kernel's mean +- 2 std (sdes.marginal)."""
    times, paths = vp_forward_paths(s, T, x0, n_paths, 200, seed)
    sde = _vp(s, T)
    start = torch.full((times.size, 1), float(x0), dtype=torch.float64)
    mean, std = sde.marginal(start, torch.as_tensor(times))
    mean, std = _as_numpy(mean)[:, 0], _as_numpy(std)[:, 0]
    fig, ax = _subplots(figsize=(7, 3.6))
    ax.plot(times, paths[:30].T, lw=0.5, alpha=0.6)
    ax.plot(times, mean, "k", lw=2, label=r"$\sqrt{\bar\alpha_t}\,a_0$")
    ax.fill_between(times, mean - 2 * std, mean + 2 * std, color="k", alpha=0.15, label="±2 std")
    ax.set(xlabel="t", ylabel="$a_t$", title=f"VP forward paths from $a_0$ = {x0:g}")
    ax.legend(loc="upper right")
    return fig


def ddpm_alpha_bar_error(steps: int, s: float = 0.008, T: float = 0.9946) -> float:
    """max_k |prod_{j<k} (1 - beta(t_j) dt) - abar(t_k)| on a uniform grid of ``steps`` steps.

    The DDPM product with beta_k = beta(t_k) dt tends to the SDE's abar(t) = exp(-int beta) as
    dt -> 0 (paper B.0.1); the error is O(dt).
    """
    sde = _vp(s, T)
    times = torch.linspace(0.0, sde.T, steps + 1, dtype=torch.float64)
    dt = sde.T / steps
    betas = _as_numpy(sde.beta(times[:-1])) * dt
    if np.any(betas >= 1):
        return float("nan")  # a DDPM step needs beta_k < 1
    discrete = np.concatenate([[1.0], np.cumprod(1.0 - betas)])
    return float(np.max(np.abs(discrete - _as_numpy(sde.alpha_bar(times)))))


def ddpm_limit_figure(s: float = 0.008, T: float = 0.98) -> Figure:
    """DDPM's discrete abar against the SDE's: the error falls like 1/K (first order)."""
    counts = np.array([50, 100, 200, 400, 800, 1600, 3200])
    errors = np.array([ddpm_alpha_bar_error(int(k), s, T) for k in counts])
    fig, ax = _subplots(figsize=(5.5, 3.6))
    ax.loglog(counts, errors, "o-", label=r"$\max_k |\prod(1-\beta_j) - \bar\alpha(t_k)|$")
    ax.loglog(counts, errors[0] * counts[0] / counts, "k--", label="slope -1")
    ax.set(xlabel="number of DDPM steps K", title=f"DDPM -> VP SDE (T = {T:g})")
    ax.legend(fontsize=8)
    return fig


@cache
def _cosine_beta_function() -> Callable:
    return symbolic.vp_cosine_schedule().function("beta", [sym.t, sym.s])


def cosine_beta(times: np.ndarray, s: float = 0.008, dtype: type = np.float64) -> np.ndarray:
    """beta(t) = pi/(1+s) tan(u(t)) evaluated in ``dtype`` (the sympy expression, lambdified)."""
    times = np.asarray(times, dtype=dtype)
    return _cosine_beta_function()(times, dtype(s))


def float32_trap_figure(s: float = 0.008) -> Figure:
    """beta(t) near t = 1 in float32 and float64: in float32 u(1) rounds past pi/2, beta(1) < 0."""
    gaps = np.logspace(-7, -1, 300)
    times = 1.0 - gaps
    b64 = cosine_beta(times, s, np.float64)
    b32 = cosine_beta(times, s, np.float32).astype(np.float64)
    at_one = float(cosine_beta(np.array([1.0]), s, np.float32)[0])
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(10, 3.6))
    ax0.loglog(gaps, b64, label="float64")
    ax0.loglog(gaps, np.where(b32 > 0, b32, np.nan), "--", label="float32")
    ax0.loglog(gaps, 2 / gaps, "k:", label="2 / (1 - t)")
    ax0.set(xlabel="1 - t", ylabel=r"$\beta(t)$", title=f"in float32, β(1) = {at_one:.3g}")
    ax0.legend()
    ax1.loglog(gaps, np.abs(b32 / b64 - 1))
    ax1.set(
        xlabel="1 - t", ylabel="relative error of float32", title="float32 error ~ 1e-7 / (1 - t)"
    )
    return fig


# ---------------------------------------------------------------------------------------------
# 03: the VE SDE
# ---------------------------------------------------------------------------------------------


def ve_schedule_figure(sigma_min: float = 0.01, sigma_max: float = 50.0) -> Figure:
    """sigma(t), g^2(t), and the exact kernel std sqrt(sigma^2 - sigma_min^2) against sigma(t)."""
    exact = _sde("ve", sigma_min=sigma_min, sigma_max=sigma_max, kernel="exact")
    song = _sde("ve", sigma_min=sigma_min, sigma_max=sigma_max, kernel="song")
    times = torch.linspace(0.0, exact.T, 400, dtype=torch.float64)
    tt = times.numpy()
    sigma = _as_numpy(exact.sigma(times))
    g2 = _as_numpy(exact.g2(times))
    std_exact, std_song = _as_numpy(exact.std(times)), _as_numpy(song.std(times))
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(10, 3.6))
    ax0.semilogy(tt, sigma, label=r"$\sigma(t)$ (paper's kernel std)")
    ax0.semilogy(tt[1:], std_exact[1:], "--", label=r"exact $\sqrt{\sigma^2(t) - \sigma_{\min}^2}$")
    ax0.semilogy(tt, g2, label=r"$g^2 = d\sigma^2/dt$")
    ax0.set(
        xlabel="t", title=rf"VE: $\sigma_{{\min}}$={sigma_min:g}, $\sigma_{{\max}}$={sigma_max:g}"
    )
    ax0.legend(fontsize=8)
    rel = std_song[1:] ** 2 / std_exact[1:] ** 2 - 1
    ax1.semilogy(tt[1:], rel)
    ax1.set(
        xlabel="t",
        ylabel=r"$\sigma^2(t) / (\sigma^2(t) - \sigma_{\min}^2) - 1$",
        title="how much the paper overstates the variance",
    )
    return fig


def euler_factor_figure(
    steps: int = 20, sigma_min: float = 0.01, sigma_max: float = 50.0
) -> Figure:
    """Euler's factor 1 - L h against the exact exp(-L h), L = ln(sigma_max / sigma_min).

    A backward Euler step of size h on the VE probability-flow ODE dx/dt = L (x - D) multiplies
    x - D by 1 - L h where the exact flow (D frozen) multiplies it by exp(-L h).
    """
    _check_positive(sigma_min=sigma_min, sigma_max=sigma_max)
    if sigma_max <= sigma_min:
        raise ValueError(f"need sigma_max > sigma_min, got {sigma_min}, {sigma_max}")
    rate = math.log(sigma_max / sigma_min)
    y = np.linspace(0.0, 4.0, 400)
    step = rate / steps
    fig, ax = _subplots(figsize=(6, 3.6))
    ax.plot(y, np.exp(-y), label=r"exact $e^{-Lh}$")
    ax.plot(y, 1 - y, label=r"Euler $1 - Lh$")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axhline(-1, color="grey", lw=0.5, ls=":")
    ax.axvline(step, color="k", ls="--", label=f"L h = {step:.2f} (N = {steps}, uniform in t)")
    ax.set(xlabel="L h", ylim=(-3, 1.2), title=f"L = ln(σmax/σmin) = {rate:.2f}")
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# 04: the paper's CLD
# ---------------------------------------------------------------------------------------------


@cache
def _cld_symbolic_functions() -> dict[str, Callable]:
    cov = symbolic.cld_covariance()
    out = {key: cov.function(key, [sym.t, sym.gamma]) for key in ("S11", "S12", "S22")}
    out["sigma2"] = symbolic.cld_sigma2().function("sigma2", [sym.t, sym.gamma])
    return out


def cld_covariance_figure(gamma: float = 3.0, t_max: float = 3.0) -> Figure:
    """Sigma_11, Sigma_12, Sigma_22, sigma_CLD^2: course_lib.sdes (lines) and sympy (dots)."""
    _check_positive(gamma=gamma, t_max=t_max)
    sde = _sde("cld", gamma=gamma, T=max(t_max, 1.0))
    times = torch.linspace(0.0, t_max, 300, dtype=torch.float64)
    s11, s12, s22 = (_as_numpy(v) for v in sde.kernel_cov(times))
    sigma2 = _as_numpy(sde.sigma2(times))
    symbolic_fns = _cld_symbolic_functions()
    dots = np.linspace(0.0, t_max, 13)
    fig, ax = _subplots(figsize=(6.5, 3.8))
    for label, values, key in (
        (r"$\Sigma_{11}$", s11, "S11"),
        (r"$\Sigma_{12}$", s12, "S12"),
        (r"$\Sigma_{22}$", s22, "S22"),
        (r"$\sigma^2_{CLD}$", sigma2, "sigma2"),
    ):
        (line,) = ax.plot(times.numpy(), values, label=label)
        ax.plot(dots, symbolic_fns[key](dots, gamma), "o", color=line.get_color(), ms=4)
    ax.set(xlabel="t", title=rf"paper's CLD kernel, $\gamma$ = {gamma:g} (dots: sympy)")
    ax.legend()
    return fig


def cld_forward_paths(
    gamma: float, t_end: float, n_paths: int, steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase-space paths of the paper's CLD from a_0 in {-1, 1}, p_0 ~ N(0, 1).

    Exact transitions: X_{k+1} = e^{A h} X_k + L_h z with L_h L_h^T = Sigma_h (sdes.expm_A and
    sdes.kernel_cov). Returns (times, positions, momenta), each path a row.
    """
    _check_positive(gamma=gamma, t_end=t_end)
    sde = _sde("cld", gamma=gamma, T=max(t_end, 1.0))
    h = t_end / steps
    expm = _as_numpy(sde.expm_A(h))
    s11, s12, s22 = (float(v) for v in sde.kernel_cov(h))
    chol = np.linalg.cholesky(np.array([[s11, s12], [s12, s22]]))
    rng = np.random.default_rng(seed)
    state = np.stack(
        [np.where(np.arange(n_paths) % 2 == 0, -1.0, 1.0), rng.standard_normal(n_paths)]
    )
    out = np.empty((steps + 1, 2, n_paths))
    out[0] = state
    for k in range(steps):
        state = expm @ state + chol @ rng.standard_normal((2, n_paths))
        out[k + 1] = state
    return np.linspace(0.0, t_end, steps + 1), out[:, 0].T, out[:, 1].T


def cld_phase_figure(
    gamma: float = 3.0, t_end: float = 2.0, n_paths: int = 12, seed: int = 0
) -> Figure:
    """Forward CLD paths: position against time, and the (a, p) phase plane."""
    times, pos, mom = cld_forward_paths(gamma, t_end, n_paths, 300, seed)
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(10, 3.8))
    for a, p in zip(pos, mom, strict=True):
        (line,) = ax0.plot(times, a, lw=0.8)
        ax1.plot(a, p, lw=0.6, color=line.get_color(), alpha=0.8)
        ax1.plot(a[0], p[0], "o", color=line.get_color(), ms=3)
    ax0.set(xlabel="t", ylabel="position $a_t$", title=rf"CLD forward, $\gamma$ = {gamma:g}")
    ax1.set(xlabel="position a", ylabel="momentum p", title="phase plane (dots: start)")
    return fig


def _lyapunov_path(
    drifts: np.ndarray, noise: np.ndarray, start: np.ndarray, h: float
) -> np.ndarray:
    """RK4 for S' = M S + S M^T + Q with step h; ``drifts`` holds M on the half-step grid.

    ``drifts[j]`` is M(j h / 2), shape (2 n + 1, 2, 2) for n steps; returns S at the n + 1 steps.
    """
    steps = (drifts.shape[0] - 1) // 2
    out = np.empty((steps + 1, 2, 2))
    out[0] = start

    def rhs(m: np.ndarray, cov: np.ndarray) -> np.ndarray:
        return m @ cov + cov @ m.T + noise

    for k in range(steps):
        cov, m0, m_half, m1 = out[k], drifts[2 * k], drifts[2 * k + 1], drifts[2 * k + 2]
        k1 = rhs(m0, cov)
        k2 = rhs(m_half, cov + h / 2 * k1)
        k3 = rhs(m_half, cov + h / 2 * k2)
        k4 = rhs(m1, cov + h * k3)
        out[k + 1] = cov + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


def cld_generative_covariances(
    gamma: float = 3.0, T: float = 14.0, data_var: float = 0.25, steps: int = 4000
) -> dict[str, np.ndarray]:
    """Covariance of (a, p) along generative time tau, Gaussian data N(0, data_var), exact scores.

    Deterministic (the Lyapunov ODE of each linear generative SDE, RK4 with ``steps`` steps):
    ``"target"``: the forward marginal C(T - tau); ``"exact"``: the exact reversal
    -A X + B B^T grad log p (momentum score of the joint density) from C(T); ``"paper"``: Eqs.
    10-11, da = p, dp = -gamma p + s(a, T - tau) + noise (exact position score -a / C_11), from the
    paper's prior diag(sigma_CLD^2(T), 1); ``"misplaced"``: the position score put where the
    momentum score belongs. Returns arrays (steps + 1, 2, 2) and the grid ``"tau"``.
    """
    _check_positive(gamma=gamma, T=T, data_var=data_var)
    sde = _sde("cld", gamma=gamma, T=T)
    drift_matrix = np.array([[0.0, 1.0], [0.0, -gamma]])
    noise = np.diag([0.0, 2.0 * gamma])
    half_taus = np.linspace(0.0, T, 2 * steps + 1)
    times = torch.as_tensor(np.clip(T - half_taus, 0.0, T))
    expm = _as_numpy(sde.expm_A(times))
    s11, s12, s22 = (_as_numpy(v) for v in sde.kernel_cov(times))
    kernel = np.stack([np.stack([s11, s12], -1), np.stack([s12, s22], -1)], -2)
    forward = expm @ np.diag([data_var, 1.0]) @ np.swapaxes(expm, -1, -2) + kernel
    inverse_var = 1.0 / forward[:, 0, 0]
    exact = -drift_matrix - noise @ np.linalg.inv(forward)
    paper = np.zeros_like(forward)
    paper[:, 0, 1], paper[:, 1, 0], paper[:, 1, 1] = 1.0, -inverse_var, -gamma
    misplaced = np.zeros_like(forward)
    misplaced[:, 0, 1], misplaced[:, 1, 0], misplaced[:, 1, 1] = (
        -1.0,
        -2 * gamma * inverse_var,
        gamma,
    )
    h = T / steps
    paper_prior = np.diag([float(sde.sigma2(T)), 1.0])
    return {
        "tau": half_taus[::2],
        "target": forward[::2],
        "exact": _lyapunov_path(exact, noise, forward[0], h),
        "paper": _lyapunov_path(paper, noise, paper_prior, h),
        "misplaced": _lyapunov_path(misplaced, noise, forward[0], h),
    }


def cld_reversal_figure(gamma: float = 3.0, T: float = 14.0, data_var: float = 0.25) -> Figure:
    """Var(a) along generative time: forward marginals, exact reversal, the paper's Eqs. 10-11."""
    paths = cld_generative_covariances(gamma, T, data_var, steps=800)
    tau = paths["tau"]
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(10, 3.8))
    ax0.plot(tau, paths["target"][:, 0, 0], "k", lw=3, alpha=0.3, label="target $C_{11}(T-\\tau)$")
    ax0.plot(tau, paths["exact"][:, 0, 0], "--", label="exact reversal (momentum score)")
    ax0.plot(tau, paths["paper"][:, 0, 0], label="paper, Eqs. 10-11 (position force)")
    ax0.set(xlabel=r"generative time $\tau$", ylabel="Var(a)", yscale="log")
    ax0.set_title(rf"Gaussian data, variance {data_var:g}; $\gamma$ = {gamma:g}, T = {T:g}")
    ax0.legend(fontsize=8)
    ax1.semilogy(
        tau, paths["misplaced"][:, 0, 0], color="C3", label="position score as momentum score"
    )
    ax1.semilogy(tau, paths["target"][:, 0, 0], "k", lw=3, alpha=0.3, label="target")
    ax1.set(xlabel=r"generative time $\tau$", title="the wrong score in the right place")
    ax1.legend(fontsize=8)
    end = {key: paths[key][-1, 0, 0] for key in ("target", "exact", "paper")}
    fig.suptitle(
        f"final Var(a): target {end['target']:.4f}, exact {end['exact']:.4f}, "
        f"paper {end['paper']:.4f}",
        fontsize=10,
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Samplers on Gaussian data: exact variances without Monte-Carlo noise
# ---------------------------------------------------------------------------------------------


def _gaussian_problem(sde_name: str, data_std: float, **overrides):
    from course_lib import toy

    sde = _sde(sde_name, **overrides)
    return sde, toy.gaussian_1d(data_std)


def _marginal_variance(sde, target, t: float) -> float:
    return float(target.position_marginal(sde, t)[1][0, 0])


def ode_gain(sde, score_fn, solver: str, steps: int, *, denoise_final: bool = False) -> float:
    """The factor c with x_out = c x_T of a probability-flow solver on zero-mean Gaussian data.

    The exact score of N(0, v_t) is linear in x, so every ODE step is multiplication by a number
    and one run from x_T = 1 gives c; the output variance is c^2 Var(x_T), with no sampling error.
    """
    from course_lib import solvers

    start = torch.ones((1, sde.state_factor), dtype=torch.float64)
    out = solvers.sample(
        sde,
        score_fn,
        (1, 1),
        solver=solver,
        steps=steps,
        x_init=start,
        denoise_final=denoise_final,
        dtype=torch.float64,
    )
    return float(out[0, 0])


def em_output_variance(sde, score_fn, steps: int, start_variance: float) -> float:
    """Variance after Euler-Maruyama on zero-mean Gaussian data, iterated exactly.

    On Gaussian data one step is x' = c x + d z (c from a run with zero noise at x = 1, d from a run
    at x = 0 with unit noise, both through ``solvers.em_step``), so Var' = c^2 Var + d^2.
    """
    from course_lib import solvers

    times = [float(t) for t in solvers.time_grid(sde, steps, "uniform")]
    one, zero = torch.ones((1, 1), dtype=torch.float64), torch.zeros((1, 1), dtype=torch.float64)
    var = start_variance
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        c = float(solvers.em_step(sde, score_fn, one, t, t_next, zero)[0, 0])
        d = float(solvers.em_step(sde, score_fn, zero, t, t_next, one)[0, 0])
        var = c**2 * var + d**2
    return var


def solver_variances(
    sde_name: str,
    steps_list: tuple[int, ...],
    solvers_used: tuple[str, ...] = ("euler", "heun", "em"),
    data_std: float = 0.5,
    **overrides,
) -> dict[str, np.ndarray]:
    """Variance of the samples of each solver on N(0, data_std^2) data with the exact score.

    Starts from the true marginal N(0, v_T) (not the prior) so that only the time discretisation
    is measured; no final denoising step. Returns {solver: variances} and "target": v(t_eps).
    """
    sde, target = _gaussian_problem(sde_name, data_std, **overrides)
    score_fn = target.score_fn(sde)
    v_start = _marginal_variance(sde, target, sde.T)
    out: dict[str, np.ndarray] = {"target": np.array(_marginal_variance(sde, target, sde.t_eps))}
    for solver in solvers_used:
        if solver == "em":
            values = [em_output_variance(sde, score_fn, n, v_start) for n in steps_list]
        else:
            values = [ode_gain(sde, score_fn, solver, n) ** 2 * v_start for n in steps_list]
        out[solver] = np.array(values)
    return out


def solver_variance_figure(
    steps_list: tuple[int, ...], variances: dict[str, np.ndarray], title: str
) -> Figure:
    """Sample variance of each solver against N (the output of :func:`solver_variances`)."""
    fig, ax = _subplots(figsize=(6, 3.8))
    for solver in SOLVER_COLORS:
        if solver in variances:
            ax.semilogx(
                steps_list, variances[solver], "o-", color=SOLVER_COLORS[solver], label=solver
            )
    ax.axhline(float(variances["target"]), color="k", ls="--", label="target")
    largest = max(float(np.max(v)) for k, v in variances.items() if k != "target")
    top = min(max(1.05 * largest, 1.2 * float(variances["target"])), 6 * float(variances["target"]))
    ax.set(xlabel="steps N (uniform in t)", ylabel="variance of the samples", ylim=(0, top))
    ax.set_title(title)
    ax.legend()
    return fig


def ve_solver_variance_figure(
    steps_list: tuple[int, ...] = (10, 20, 50, 100, 200, 500, 1000), data_std: float = 0.5
) -> Figure:
    """VE, exact score, N(0, data_std^2) data: sample variance of Euler, Heun and EM against N."""
    values = solver_variances("ve", steps_list, data_std=data_std)
    return solver_variance_figure(steps_list, values, f"VE, exact score, data N(0, {data_std:g}²)")


def paper_cld_sampler_variance(
    steps: int, n_samples: int = 4000, data_std: float = 0.5, seed: int = 0
) -> float:
    """Variance of the paper's CLD Euler-Maruyama sampler (``solvers.sample``) with the exact
    position score of N(0, data_std^2) data: a Monte-Carlo estimate from ``n_samples`` draws."""
    from course_lib import solvers

    sde, target = _gaussian_problem("cld", data_std)
    generator = torch.Generator().manual_seed(seed)
    out = solvers.sample(
        sde,
        target.score_fn(sde),
        (n_samples, 1),
        solver="em",
        steps=steps,
        generator=generator,
        dtype=torch.float64,
    )
    return float(out.var())


# ---------------------------------------------------------------------------------------------
# 05: reverse time and the probability-flow ODE
# ---------------------------------------------------------------------------------------------


def reverse_toy_figure(
    solver: str = "heun", steps: int = 50, sde_name: str = "vp", n_samples: int = 600, seed: int = 0
) -> Figure:
    """Exact-score sampling of the 2-D three-mode toy: trajectories and samples over the density."""
    from course_lib import solvers, toy

    sde = _sde(sde_name)
    target = toy.three_mode_2d()
    generator = torch.Generator().manual_seed(seed)
    samples, path = solvers.sample(
        sde,
        target.score_fn(sde),
        (n_samples, 2),
        solver=solver,
        steps=steps,
        generator=generator,
        return_path=True,
        dtype=torch.float64,
    )
    states = _as_numpy(path.states)
    grid = np.linspace(-1.5, 1.5, 121)
    xx, yy = np.meshgrid(grid, grid)
    points = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], axis=1))
    density = _as_numpy(target.marginal_density(sde, points, sde.t_eps)).reshape(xx.shape)
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(10, 4.4))
    for k in range(min(25, n_samples)):
        ax0.plot(states[:, k, 0], states[:, k, 1], lw=0.6, alpha=0.7, color=SOLVER_COLORS[solver])
    ax0.plot(states[-1, :25, 0], states[-1, :25, 1], "k.", ms=4)
    ax0.contour(xx, yy, density, levels=6, colors="grey", linewidths=0.7)
    limit = max(3.0, float(np.quantile(np.abs(states[0]), 0.99)))
    ax0.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal")
    ax0.set_title(f"{sde_name.upper()} {solver}, {steps} steps: 25 trajectories")
    ax1.contourf(xx, yy, density, levels=12, cmap="Greys")
    final = _as_numpy(samples)
    ax1.plot(final[:, 0], final[:, 1], ".", ms=2, color=SOLVER_COLORS[solver])
    ax1.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), aspect="equal")
    ax1.set_title(f"{n_samples} samples over the data density")
    return fig


def convergence_errors(
    sde_name: str = "vp",
    steps_list: tuple[int, ...] = (16, 32, 64, 128, 256, 512),
    data_std: float = 0.5,
) -> dict[str, np.ndarray]:
    """Global errors of Euler, Heun (probability flow) and Euler-Maruyama (weak, in variance).

    Gaussian data: the exact probability-flow map is x_eps = sqrt(v_eps / v_T) x_T, so the ODE
    error is |c - sqrt(v_eps / v_T)| for the solver's gain c; for EM it is |Var_N - v_eps| with
    the variance iterated exactly (:func:`em_output_variance`).
    """
    sde, target = _gaussian_problem(sde_name, data_std)
    score_fn = target.score_fn(sde)
    v_start = _marginal_variance(sde, target, sde.T)
    v_end = _marginal_variance(sde, target, sde.t_eps)
    exact_gain = math.sqrt(v_end / v_start)
    out = {"steps": np.array(steps_list)}
    for solver in ("euler", "heun"):
        gains = np.array([ode_gain(sde, score_fn, solver, n) for n in steps_list])
        out[solver] = np.abs(gains - exact_gain)
    out["em"] = np.array(
        [abs(em_output_variance(sde, score_fn, n, v_start) - v_end) for n in steps_list]
    )
    return out


def convergence_order_figure(
    sde_name: str = "vp", steps_list: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
) -> Figure:
    """log error against log N with the fitted orders (toy.convergence_order)."""
    from course_lib import toy

    errors = convergence_errors(sde_name, steps_list)
    fig, ax = _subplots(figsize=(6, 4))
    for solver, label in (
        ("euler", "Euler (ODE)"),
        ("heun", "Heun (ODE)"),
        ("em", "Euler-Maruyama (weak, variance)"),
    ):
        order = toy.convergence_order(steps_list, errors[solver])
        ax.loglog(
            steps_list,
            errors[solver],
            "o-",
            color=SOLVER_COLORS[solver],
            label=f"{label}: {order:.2f}",
        )
    ax.set(xlabel="steps N", ylabel="error", title=f"{sde_name.upper()}: observed orders")
    ax.legend(fontsize=8)
    return fig


def sample_two_mode_toy(
    sde_name: str, solver: str, steps: int, n_samples: int = 4000, seed: int = 0
) -> np.ndarray:
    """Samples of ``solvers.sample`` with the exact score of ``toy.two_mode_1d()``, shape (n,)."""
    from course_lib import solvers, toy

    sde = _sde(sde_name)
    generator = torch.Generator().manual_seed(seed)
    out = solvers.sample(
        sde,
        toy.two_mode_1d().score_fn(sde),
        (n_samples, 1),
        solver=solver,
        steps=steps,
        generator=generator,
        dtype=torch.float64,
    )
    return _as_numpy(out)[:, 0]


def two_mode_samples_figure(samples: dict[str, np.ndarray]) -> Figure:
    """Histograms of samples against the density of ``toy.two_mode_1d()``, W1 in the legend."""
    from course_lib import toy

    target = toy.two_mode_1d()
    reference = target.sample(50_000, generator=torch.Generator().manual_seed(12345))
    grid = np.linspace(-2.5, 2.5, 400)
    density = _as_numpy(target.marginal_density(_sde("vp"), torch.as_tensor(grid), 0.0))
    fig, ax = _subplots(figsize=(7, 3.8))
    ax.plot(grid, density, "k", lw=2, label="data density")
    bins = np.linspace(-2.5, 2.5, 81)
    for label, values in samples.items():
        w1 = toy.wasserstein1_1d(torch.as_tensor(values), reference)
        ax.hist(
            values,
            bins=bins,
            density=True,
            histtype="step",
            lw=1.5,
            label=f"{label}: W1 = {w1:.3f}",
        )
    ax.set(xlabel="a", title="exact scores, two-mode data (weights 0.3 / 0.7)")
    ax.legend(fontsize=8)
    return fig

"""Figures of the stochastic-calculus notebooks 01-04, each a pure function returning a Figure.

Every function is deterministic given its arguments (randomness comes from ``seed``), so the
sliders of :mod:`course_lib.widgets.calculus` and the tests draw the same figure. Closed forms come
from :mod:`course_lib.symbolic` (lambdified) or from :mod:`course_lib.sdes`, with the forward paths
of 01-04 simulated beside them. The generative samplers' figures are in :mod:`.reverse`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import numpy as np
import sympy as sp
import torch
from matplotlib.figure import Figure

from course_lib import symbolic
from course_lib.arguments import check_positive
from course_lib.plots.base import new_figure
from course_lib.symbolic import core as sym

#: One colour per sampler, shared by every figure of notebooks 03-05.


def _sde(name: str, **overrides):
    from course_lib import sdes

    return sdes.get(name, **overrides)


def _as_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# 01: Brownian motion, Ito's lemma, Ornstein-Uhlenbeck
# ---------------------------------------------------------------------------------------------


def brownian_increments(n_paths: int, steps: int, horizon: float, seed: int) -> np.ndarray:
    """Increments dW ~ N(0, dt), shape (n_paths, steps), from a seeded generator."""
    if n_paths < 1 or steps < 1:
        raise ValueError(f"need n_paths >= 1 and steps >= 1, got {n_paths}, {steps}")
    check_positive(horizon=horizon)
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, math.sqrt(horizon / steps), size=(n_paths, steps))


def brownian_figure(n_paths: int = 30, steps: int = 1000, seed: int = 0) -> Figure:
    """Paths of W on [0, 1] inside +-2 sqrt(t), and the quadratic variation sum (dW)^2 -> t."""
    dw = brownian_increments(n_paths, steps, 1.0, seed)
    times = np.linspace(0.0, 1.0, steps + 1)
    paths = np.concatenate([np.zeros((n_paths, 1)), np.cumsum(dw, axis=1)], axis=1)
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(10, 3.6), layout="constrained")
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
    fig, ax = new_figure(figsize=(6, 3.6), layout="constrained")
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
    check_positive(theta=theta, sigma=sigma, horizon=horizon)
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
    fig, (ax0, ax1) = new_figure(
        1, 2, figsize=(10, 3.6), width_ratios=[2.2, 1], layout="constrained"
    )
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
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(10, 3.6), layout="constrained")
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
    fig, ax = new_figure(figsize=(7, 3.6), layout="constrained")
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
    fig, ax = new_figure(figsize=(5.5, 3.6), layout="constrained")
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
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(10, 3.6), layout="constrained")
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
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(10, 3.6), layout="constrained")
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
    check_positive(sigma_min=sigma_min, sigma_max=sigma_max)
    if sigma_max <= sigma_min:
        raise ValueError(f"need sigma_max > sigma_min, got {sigma_min}, {sigma_max}")
    rate = math.log(sigma_max / sigma_min)
    y = np.linspace(0.0, 4.0, 400)
    step = rate / steps
    fig, ax = new_figure(figsize=(6, 3.6), layout="constrained")
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
    check_positive(gamma=gamma, t_max=t_max)
    sde = _sde("cld", gamma=gamma, T=max(t_max, 1.0))
    times = torch.linspace(0.0, t_max, 300, dtype=torch.float64)
    s11, s12, s22 = (_as_numpy(v) for v in sde.kernel_cov(times))
    sigma2 = _as_numpy(sde.sigma2(times))
    symbolic_fns = _cld_symbolic_functions()
    dots = np.linspace(0.0, t_max, 13)
    fig, ax = new_figure(figsize=(6.5, 3.8), layout="constrained")
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
    check_positive(gamma=gamma, t_end=t_end)
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
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(10, 3.8), layout="constrained")
    for a, p in zip(pos, mom, strict=True):
        (line,) = ax0.plot(times, a, lw=0.8)
        ax1.plot(a, p, lw=0.6, color=line.get_color(), alpha=0.8)
        ax1.plot(a[0], p[0], "o", color=line.get_color(), ms=3)
    ax0.set(xlabel="t", ylabel="position $a_t$", title=rf"CLD forward, $\gamma$ = {gamma:g}")
    ax1.set(xlabel="position a", ylabel="momentum p", title="phase plane (dots: start)")
    return fig

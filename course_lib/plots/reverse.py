"""Figures of the generative samplers in notebooks 03-05, each a pure function of given results.

The results come from :mod:`course_lib.analysis.gaussian` (exact variances on Gaussian data, the
CLD covariances along generative time, convergence errors) and from the toy sampler
(:func:`course_lib.toy.sample`, recorded by :func:`course_lib.analysis.samplers.toy_run`).
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from course_lib import sdes, toy
from course_lib.plots.base import new_figure
from course_lib.plots.calculus import _as_numpy
from course_lib.solvers import SOLVER_TABLE

# ---------------------------------------------------------------------------------------------
# 03-04: sample variances on Gaussian data, the CLD reversal
# ---------------------------------------------------------------------------------------------


def cld_reversal_figure(
    paths: dict[str, np.ndarray], gamma: float = 3.0, T: float = 14.0, data_var: float = 0.25
) -> Figure:
    """Var(a) along generative time: forward marginals, exact reversal, the paper's Eqs. 10-11
    (``paths`` from :func:`course_lib.analysis.gaussian.cld_generative_covariances`)."""
    tau = paths["tau"]
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(10, 3.8), layout="constrained")
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


def solver_variance_figure(
    steps_list: tuple[int, ...], variances: dict[str, np.ndarray], title: str
) -> Figure:
    """Sample variance of each solver against N (the output of
    :func:`course_lib.analysis.gaussian.solver_variances`)."""
    fig, ax = new_figure(figsize=(6, 3.8), layout="constrained")
    for solver in SOLVER_TABLE:
        if solver in variances:
            ax.semilogx(
                steps_list, variances[solver], "o-", color=SOLVER_TABLE[solver].color, label=solver
            )
    ax.axhline(float(variances["target"]), color="k", ls="--", label="target")
    largest = max(float(np.max(v)) for k, v in variances.items() if k != "target")
    top = min(max(1.05 * largest, 1.2 * float(variances["target"])), 6 * float(variances["target"]))
    ax.set(xlabel="steps N (uniform in t)", ylabel="variance of the samples", ylim=(0, top))
    ax.set_title(title)
    ax.legend()
    return fig


def reverse_toy_figure(run) -> Figure:
    """Exact-score sampling of a 2-D toy preset: trajectories and samples over the density.

    ``run`` is a :class:`course_lib.analysis.samplers.ToyRun` recorded with its path.
    """
    sde_name, solver = run.spec.sde, run.spec.solver
    sde = run.spec.build_sde()
    target = toy.preset(run.target)
    color = SOLVER_TABLE[solver].color
    states = run.states
    n_samples = states.shape[1]
    grid = np.linspace(-1.5, 1.5, 121)
    xx, yy = np.meshgrid(grid, grid)
    points = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], axis=1))
    density = _as_numpy(target.marginal_density(sde, points, sde.t_eps)).reshape(xx.shape)
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(10, 4.4), layout="constrained")
    for k in range(min(25, n_samples)):
        ax0.plot(states[:, k, 0], states[:, k, 1], lw=0.6, alpha=0.7, color=color)
    ax0.plot(states[-1, :25, 0], states[-1, :25, 1], "k.", ms=4)
    ax0.contour(xx, yy, density, levels=6, colors="grey", linewidths=0.7)
    limit = max(3.0, float(np.quantile(np.abs(states[0]), 0.99)))
    ax0.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal")
    ax0.set_title(f"{sdes.label(sde_name)} {solver}, {run.steps} steps: 25 trajectories")
    ax1.contourf(xx, yy, density, levels=12, cmap="Greys")
    ax1.plot(run.samples[:, 0], run.samples[:, 1], ".", ms=2, color=color)
    ax1.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), aspect="equal")
    ax1.set_title(f"{n_samples} samples over the data density")
    return fig


def convergence_order_figure(errors: dict[str, np.ndarray], sde_name: str = "vp") -> Figure:
    """log error against log N with the fitted orders (toy.convergence_order); ``errors`` from
    :func:`course_lib.analysis.gaussian.convergence_errors`."""
    steps_list = errors["steps"]
    fig, ax = new_figure(figsize=(6, 4), layout="constrained")
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
            color=SOLVER_TABLE[solver].color,
            label=f"{label}: {order:.2f}",
        )
    ax.set(xlabel="steps N", ylabel="error", title=f"{sdes.label(sde_name)}: observed orders")
    ax.legend(fontsize=8)
    return fig


def two_mode_samples_figure(samples: dict[str, np.ndarray]) -> Figure:
    """Histograms of samples against the density of ``toy.two_mode_1d()``, with their W1 to the
    course's one reference draw (``toy.w1_to_reference``) in the legend."""
    target = toy.two_mode_1d()
    grid = np.linspace(-2.5, 2.5, 400)
    density = _as_numpy(target.marginal_density(sdes.get("vp"), torch.as_tensor(grid), 0.0))
    fig, ax = new_figure(figsize=(7, 3.8), layout="constrained")
    ax.plot(grid, density, "k", lw=2, label="data density")
    bins = np.linspace(-2.5, 2.5, 81)
    for label, values in samples.items():
        w1 = toy.w1_to_reference(torch.as_tensor(values))
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

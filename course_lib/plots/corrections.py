"""Figures of notebook 10, "Beyond the paper": a VE sampler that works and the exact CLD reversal.

Pure functions of results computed by :mod:`course_lib.analysis.corrections` (the samplers with
exact scores of the ``toy`` presets) and :mod:`course_lib.analysis.chunks` (a shipped policy's
chunks), so that the sliders of :mod:`course_lib.widgets.corrections` and the tests see the same
numbers. The corrected Table 1 is read and compared by :mod:`course_lib.tables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from course_lib import sdes, toy
from course_lib.arguments import check_count
from course_lib.plots.base import new_figure
from course_lib.plots.pusht import draw_scene
from course_lib.solvers import SOLVER_TABLE


def _density_curve(target: str, lo: float = -2.5, hi: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(lo, hi, 400)
    dens = toy.preset(target).marginal_density(sdes.get("ve"), torch.as_tensor(grid), 0.0)
    return grid, dens.numpy()


# ---------------------------------------------------------------------------------------------
# VE: the paper's sampler and the cure
# ---------------------------------------------------------------------------------------------


def _line_style(label: str) -> dict[str, Any]:
    return {"ls": "--" if label.startswith("paper") else "-", "marker": "o", "ms": 4}


def ve_collapse_figure(steps_list: Sequence[int], values: Mapping[str, np.ndarray]) -> Figure:
    """Sample variance against N for each sampler (left) and its relative error (right)."""
    target = float(values["target"])
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(11, 4), layout="constrained")
    for label, row in values.items():
        if label == "target":
            continue
        row = np.asarray(row, dtype=np.float64)
        ax0.semilogx(steps_list, row, label=label, **_line_style(label))
        ax1.loglog(steps_list, np.abs(row / target - 1.0), label=label, **_line_style(label))
    ax0.axhline(target, color="k", lw=2, alpha=0.3, label="target")
    ax0.set(xlabel="steps N", ylabel="variance of the samples", ylim=(0, 2 * target))
    ax0.set_title("VE, exact score, data N(0, 0.5²)")
    ax1.set(xlabel="steps N", ylabel="|Var / target - 1|", title="relative variance error")
    ax0.legend(fontsize=7)
    return fig


def edm_preconditioning_figure(
    scales: Mapping[str, Mapping[str, np.ndarray]], sigma_data: float = 0.5
) -> Figure:
    """Left: c_skip, c_out, c_in, c_noise against sigma. Right: std of the network's input and
    target for the paper's VE parameterisation and for EDM's (``scales`` from
    :func:`course_lib.analysis.corrections.preconditioning_scales`)."""
    coefs = scales["coefficients"]
    sigmas = coefs["sigma"]
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(11, 4), layout="constrained")
    labels = {
        "c_skip": r"$c_{skip} = \sigma_d^2/(\sigma^2+\sigma_d^2)$",
        "c_out": r"$c_{out} = \sigma\sigma_d/\sqrt{\sigma^2+\sigma_d^2}$",
        "c_in": r"$c_{in} = 1/\sqrt{\sigma^2+\sigma_d^2}$",
        "c_noise": r"$c_{noise} = \ln(\sigma)/4$",
    }
    for key, label in labels.items():
        ax0.semilogx(sigmas, coefs[key], label=label)
    ax0.axvline(sigma_data, color="grey", ls=":", lw=1)
    ax0.set(
        xlabel=r"noise level $\sigma$", title=rf"EDM preconditioning, $\sigma_d$ = {sigma_data:g}"
    )
    ax0.legend(fontsize=8)
    for name, style in (("ve", "--"), ("ve-edm", "-")):
        few, color = scales[name]["sigma"], sdes.color(name)
        for what, marker, alpha in (("input", "o", 1.0), ("target", "s", 0.6)):
            ax1.loglog(
                few,
                scales[name][f"{what}_std"],
                style,
                marker=marker,
                ms=3,
                color=color,
                alpha=alpha,
                label=f"{name}: {what}",
            )
    ax1.set(
        xlabel=r"noise level $\sigma$",
        ylabel="standard deviation",
        title="what the network sees and must output",
    )
    ax1.legend(fontsize=8)
    return fig


def ve_sampler_figure(
    metrics: Mapping[str, Mapping[str, Any]],
    steps: int = 35,
    grid: str = "edm",
    solver: str = "heun",
) -> Figure:
    """Samples of "ve" and "ve-edm" over the two-mode density (left) and the noise levels of the
    chosen grid (right); W1 and the variance error in the legend (``metrics`` from
    :func:`course_lib.analysis.corrections.ve_sampler_metrics`)."""
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(11, 4), width_ratios=[1.6, 1], layout="constrained")
    xs, dens = _density_curve("two-mode")
    ax0.fill_between(xs, dens, color="k", alpha=0.12, label="target density")
    bins = np.linspace(-2.5, 2.5, 81)
    for name, m in metrics.items():
        ax0.hist(
            np.clip(m["samples"], -2.5, 2.5),
            bins=bins,
            density=True,
            histtype="step",
            lw=1.8,
            color=sdes.color(name),
            label=f"{name}: W1 = {m['w1']:.3f}, |Var/target - 1| = {m['variance_error']:.3f}",
        )
    ax0.set(xlabel="a", title=f"{solver}, N = {steps}, grid '{grid}' (exact score)")
    ax0.legend(fontsize=8, loc="upper left")
    for name, m in metrics.items():
        levels = m["noise_levels"]
        ax1.semilogy(np.arange(levels.size), levels, ".-", color=sdes.color(name), label=name)
    ax1.set(xlabel="grid index i", ylabel=r"noise level $\sigma(t_i)$", title="where the steps go")
    ax1.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# CLD: the paper's sampler against the exact reversal
# ---------------------------------------------------------------------------------------------


def _cld_color(label: str) -> str:
    """The colour of the solver whose label ``label`` names (Euler's when none does)."""
    named = [s for s in SOLVER_TABLE.values() if s.name != "euler" and s.label in label]
    return (named[0] if named else SOLVER_TABLE["euler"]).color


def cld_convergence_figure(
    steps_list: Sequence[int], results: Mapping[str, Mapping[str, np.ndarray]]
) -> Figure:
    """Variance ratio and W1 against N: the paper's sampler (dashed), the exact reversal with
    steps in t (dotted) and with exponential or stochastic steps (solid)."""
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(11, 4), layout="constrained")
    for label, row in results.items():
        dashes = "--" if label.startswith("paper") else ":" if "in t" in label else "-"
        style = {"ls": dashes, "marker": "o", "ms": 4}
        color = _cld_color(label)
        ratio = np.where(np.isfinite(row["variance_ratio"]), row["variance_ratio"], np.nan)
        ax0.loglog(steps_list, ratio, color=color, label=label, **style)
        ax1.loglog(
            steps_list,
            np.where(np.isfinite(row["w1"]), row["w1"], np.nan),
            color=color,
            label=label,
            **style,
        )
    ax0.axhline(1.0, color="k", lw=2, alpha=0.3)
    ax0.set(xlabel="steps N", ylabel="Var(samples) / Var(data)", ylim=(0.5, 5.0))
    ax0.set_title("two-mode data, exact scores (above the frame: diverged)", fontsize=10)
    ax1.set(xlabel="steps N", ylabel="W1 to the data", ylim=(5e-3, 2.0))
    ax1.set_title("distance to the data law", fontsize=10)
    ax0.legend(fontsize=7)
    return fig


def cld_time_laws_figure(laws: Mapping[str, np.ndarray]) -> Figure:
    """Left: sigma_eff(t), the VE noise level u_t is as informative as. Right: where the training
    times of each law put ln sigma_eff (``laws`` from
    :func:`course_lib.analysis.corrections.cld_time_laws`), against
    EDM's N(-1.2, 1.2^2) band (mean +- 2 std)."""
    hsm = sdes.get("cld-hsm")
    fig, (ax0, ax1) = new_figure(1, 2, figsize=(11, 4), layout="constrained")
    t = np.geomspace(hsm.t_eps, hsm.T, 400)
    ax0.loglog(t, hsm.effective_sigma(torch.as_tensor(t)).numpy(), color="k")
    ax0.set(xlabel="t", ylabel=r"$\sigma_{eff}(t)$", title="CLD-HSM as VE noise", ylim=(1e-4, 1e3))
    band = (hsm.p_mean - 2 * hsm.p_std, hsm.p_mean + 2 * hsm.p_std)
    ax1.axvspan(*band, color="0.85", label="EDM: 95% of levels")
    bins = np.linspace(-8.0, 6.0, 57)
    for law, values in laws.items():
        inside = np.mean((values > band[0]) & (values < band[1]))
        ax1.hist(
            values,
            bins=bins,
            density=True,
            histtype="step",
            lw=2,
            label=f"{law}: {inside:.0%} in band",
        )
    ax1.set(xlabel=r"$\ln\sigma_{eff}$ of the training times", ylabel="density")
    ax1.set_title("where each time law trains the network", fontsize=10)
    ax1.legend(fontsize=8)
    return fig


def _phase_panel(ax, run: Any, n_paths: int) -> None:
    """Phase-plane trajectories of the first ``n_paths`` samples of a recorded toy run."""
    spec, steps = run.spec, run.steps
    pos, mom = run.states[:, :n_paths, 0], run.states[:, :n_paths, 1]
    ax.plot(pos, mom, lw=0.6, alpha=0.6, color=sdes.color(spec.sde))
    ax.plot(pos[0], mom[0], "o", ms=3, color="grey", label="prior draw")
    ax.plot(pos[-1], mom[-1], "k.", ms=5, label="end")
    names = sdes.sde_class(spec.sde).state_names
    ax.set(xlabel=f"position {names[0]}", ylabel=f"momentum {names[1]}")
    ax.set_title(f"{spec.label}, N = {steps}, T = {run.T:g}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")


def cld_phase_figure(runs: Sequence[Any], n_paths: int = 8) -> Figure:
    """Phase-space trajectories of the paper's CLD sampler and of the exact reversal (cld-hsm),
    both with exact scores of the two-mode toy, and histograms of their samples over the data
    (``runs`` from :func:`course_lib.analysis.corrections.cld_sampler_runs`)."""
    check_count(n_paths=n_paths)
    fig, axes = new_figure(1, 3, figsize=(14, 4.2), layout="constrained")
    xs, dens = _density_curve("two-mode", -4.0, 4.0)
    axes[2].fill_between(xs, dens, color="k", alpha=0.12, label="target density")
    bins = np.linspace(-4.0, 4.0, 81)
    for ax, run in zip(axes[:2], runs, strict=True):
        spec, samples = run.spec, run.samples[:, 0]
        _phase_panel(ax, run, min(n_paths, len(samples)))
        m = toy.sample_metrics(samples)
        axes[2].hist(
            np.clip(samples, -4.0, 4.0),
            bins=bins,
            density=True,
            histtype="step",
            lw=1.8,
            color=sdes.color(spec.sde),
            label=f"{spec.label}: W1 {m['w1']:.3f}, Var ratio {m['variance_ratio']:.2f}",
        )
    axes[2].set(xlabel="position", title=f"{len(samples)} samples, N = {runs[0].steps}")
    axes[2].legend(fontsize=7, loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------------
# PushT: a live demo with the shipped models
# ---------------------------------------------------------------------------------------------


def demo_chunks_figure(
    state: np.ndarray,
    by_model: Mapping[str, Sequence[Any]],
    demo_chunk: np.ndarray | None = None,
) -> Figure:
    """One scene per model with its sampled chunks (one colour per solver) and the demonstration's
    recorded chunk in black (``by_model[name]``: the
    :class:`course_lib.analysis.chunks.DemoChunks` of :func:`course_lib.analysis.chunks.demo_chunks`)."""
    fig, axes = new_figure(
        1, len(by_model), figsize=(5.2 * len(by_model), 5.2), squeeze=False, layout="constrained"
    )
    for ax, (name, results) in zip(axes[0], by_model.items(), strict=True):
        draw_scene(ax, state, title=f"{name}: sampled chunks")
        for result in results:
            color = SOLVER_TABLE[result.solver].color if result.solver in SOLVER_TABLE else "grey"
            for k, chunk in enumerate(result.chunks):
                label = f"{result.solver}, N = {result.steps}" if k == 0 else None
                ax.plot(
                    chunk[:, 0],
                    chunk[:, 1],
                    ".-",
                    lw=0.8,
                    ms=2,
                    color=color,
                    alpha=0.7,
                    label=label,
                )
        if demo_chunk is not None:
            ax.plot(demo_chunk[:, 0], demo_chunk[:, 1], "k.-", lw=2, label="demonstration")
        ax.legend(fontsize=7, loc="lower left")
    return fig

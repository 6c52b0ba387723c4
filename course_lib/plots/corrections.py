"""Figures of notebook 10, "Beyond the paper": a VE sampler that works and the exact CLD reversal.

Three parts, each a set of pure functions (deterministic given ``seed``) so that the sliders of
:mod:`course_lib.widgets.corrections` and the tests see the same numbers:

* VE. The paper's probability-flow samplers step in t; :data:`VE_LADDER` adds Karras et al.'s
  fixes one at a time (Euler in sigma = the DDIM step, the rho = 7 grid, Heun on all but the last
  step, the final step to sigma = 0) and :func:`ve_ladder_variances` measures each with exact
  scores. :func:`network_scales` shows what the preconditioning c_skip, c_out, c_in does.
* CLD. The paper's sampler (Eqs. 10-11, position score as a force) against Dockhorn et al.'s exact
  reversal ("cld-hsm", velocity score of the joint density), with exact scores on the two-mode toy.
* PushT. The corrected Table 1 (``figures/table1_corrected.json``) beside the paper's numbers, and
  action chunks of the shipped "ve-edm" and "cld-hsm" policies for one demonstration frame.

Exact scores come from :mod:`course_lib.toy`, samplers from :mod:`course_lib.solvers`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from course_lib import config, sdes, solvers, toy
from course_lib.plots.calculus import SOLVER_COLORS
from course_lib.plots.pusht import draw_scene
from course_lib.plots.results import SOLVER_ORDER
from course_lib.sdes.cld_hsm import TIME_LAWS

#: Colours of the two processes compared in each part.
PROCESS_COLORS = {"ve": "#d62728", "ve-edm": "#ff7f0e", "cld": "#2ca02c", "cld-hsm": "#9467bd"}
#: Exact-score targets by name: data N(0, 0.5^2) and the two-mode mixture of MATH_NOTES.
TARGETS = ("gaussian", "two-mode")
#: Size of the exact reference sample that W1 is measured against.
REFERENCE_SIZE = 50_000


def _subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    return plt.subplots(nrows, ncols, layout="constrained", **kwargs)


def toy_target(name: str) -> toy.GaussianMixture:
    """The exact-score target ``name`` (one of :data:`TARGETS`)."""
    if name == "gaussian":
        return toy.gaussian_1d(0.5)
    if name == "two-mode":
        return toy.two_mode_1d()
    raise ValueError(f"unknown target {name!r}; valid targets are {TARGETS}")


@cache
def _reference(target: str) -> torch.Tensor:
    """An exact draw of REFERENCE_SIZE points (cached: W1 is measured against it often)."""
    return toy_target(target).sample(REFERENCE_SIZE, generator=torch.Generator().manual_seed(777))


def _check_count(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class SamplerSpec:
    """One sampler of :func:`course_lib.solvers.sample`: process, integrator, grid, final step."""

    label: str
    sde: str
    solver: str
    grid: str | None = None
    denoise_final: bool | None = None
    #: Constructor overrides of the process, e.g. ``(("ode_stepping", "plain"),)``.
    sde_overrides: tuple[tuple[str, object], ...] = ()

    def build_sde(self) -> sdes.SDE:
        """The process with its overrides."""
        return sdes.get(self.sde, **dict(self.sde_overrides))

    @property
    def stochastic(self) -> bool:
        """Whether the sampler draws fresh noise at every step."""
        return self.solver in ("em", "sscs")


def sample_toy(
    spec: SamplerSpec,
    steps: int,
    *,
    target: str = "two-mode",
    n_samples: int = 4000,
    seed: int = 0,
    return_path: bool = False,
) -> np.ndarray | tuple[np.ndarray, solvers.Path]:
    """Samples (n_samples,) of ``spec`` with the exact score of ``target``, from the prior.

    With ``return_path`` also the :class:`course_lib.solvers.Path` (full phase-space states).
    """
    _check_count(steps=steps, n_samples=n_samples)
    sde = spec.build_sde()
    out = solvers.sample(
        sde,
        toy_target(target).score_fn(sde),
        (n_samples, 1),
        solver=spec.solver,
        steps=steps,
        grid=spec.grid,
        denoise_final=spec.denoise_final,
        generator=torch.Generator().manual_seed(seed),
        return_path=return_path,
        dtype=torch.float64,
    )
    if return_path:
        samples, path = out
        return samples[:, 0].numpy(), path
    return out[:, 0].numpy()


def sample_metrics(samples: np.ndarray, target: str = "two-mode") -> dict[str, float]:
    """``variance_ratio`` Var(samples)/Var(data), ``variance_error`` |ratio - 1| and ``w1``.

    W1 is measured against an exact draw of :data:`REFERENCE_SIZE` points from the target.
    """
    data_var = float(toy_target(target).variance()[0])
    x = torch.as_tensor(np.asarray(samples, dtype=np.float64))
    if not bool(torch.isfinite(x).all()):
        return {"variance_ratio": math.inf, "variance_error": math.inf, "w1": math.inf}
    ratio = float(x.var()) / data_var
    return {
        "variance_ratio": ratio,
        "variance_error": abs(ratio - 1.0),
        "w1": toy.wasserstein1_1d(x, _reference(target)),
    }


def _density_curve(target: str, lo: float = -2.5, hi: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(lo, hi, 400)
    dens = toy_target(target).marginal_density(sdes.get("ve"), torch.as_tensor(grid), 0.0)
    return grid, dens.numpy()


# ---------------------------------------------------------------------------------------------
# VE: the paper's sampler and the cure
# ---------------------------------------------------------------------------------------------

#: From the paper's VE probability-flow sampler to EDM's, one change at a time.
VE_LADDER: tuple[SamplerSpec, ...] = (
    SamplerSpec("paper: Euler in t, uniform t", "ve", "euler", "uniform", False),
    SamplerSpec("paper: Heun in t, uniform t", "ve", "heun", "uniform", False),
    SamplerSpec("Euler in σ (DDIM), uniform t", "ve-edm", "euler", "uniform", True),
    SamplerSpec("Euler in σ, ρ = 7 grid", "ve-edm", "euler", "edm", True),
    SamplerSpec("EDM: Heun in σ, ρ = 7 grid", "ve-edm", "heun", "edm", True),
)
#: Heun in sigma on the paper's uniform-in-t grid, i.e. geometric in sigma: the rho -> infinity
#: member of Karras et al.'s grid family, to isolate what the rho = 7 grid adds.
VE_GEOMETRIC_HEUN = SamplerSpec(
    "Heun in σ, uniform t (geometric σ)", "ve-edm", "heun", "uniform", True
)
#: The paper's stochastic VE sampler, for reference (Monte Carlo).
VE_PAPER_EM = SamplerSpec("paper: Euler-Maruyama in t", "ve", "em", "uniform", False)


def ve_output_variance(
    spec: SamplerSpec, steps: int, *, n_samples: int = 20_000, seed: int = 0
) -> float:
    """Variance of the samples of ``spec`` on data N(0, 0.5^2) with the exact score.

    Deterministic solvers: the exact score is linear in x, so the sampler maps x_T to c x_T; one
    run from x_T = 1 gives c and the variance is c^2 std(T)^2, the prior's variance, with no
    Monte-Carlo error. Stochastic solvers: the sample variance of ``n_samples`` draws.
    """
    _check_count(steps=steps)
    if spec.stochastic:
        return float(
            np.var(
                sample_toy(spec, steps, target="gaussian", n_samples=n_samples, seed=seed), ddof=1
            )
        )
    sde = spec.build_sde()
    out = solvers.sample(
        sde,
        toy_target("gaussian").score_fn(sde),
        (1, 1),
        solver=spec.solver,
        steps=steps,
        grid=spec.grid,
        denoise_final=spec.denoise_final,
        x_init=torch.ones((1, 1), dtype=torch.float64),
        dtype=torch.float64,
    )
    return float(out[0, 0]) ** 2 * float(sde.std(sde.T)) ** 2


def ve_ladder_variances(
    steps_list: Sequence[int],
    specs: Sequence[SamplerSpec] = VE_LADDER,
    *,
    n_samples: int = 20_000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """``{label: variances over steps_list}`` for each spec, plus ``"target"`` = 0.25."""
    out = {
        spec.label: np.array(
            [ve_output_variance(spec, n, n_samples=n_samples, seed=seed) for n in steps_list]
        )
        for spec in specs
    }
    out["target"] = np.array(float(toy_target("gaussian").variance()[0]))
    return out


def variance_table_markdown(steps_list: Sequence[int], values: Mapping[str, np.ndarray]) -> str:
    """A Markdown table: one row per entry of ``values`` (not ``"target"``), one column per N."""
    header = "| sampler | " + " | ".join(f"N = {n}" for n in steps_list) + " |"
    lines = [header, "|---" * (len(steps_list) + 1) + "|"]
    for label, row in values.items():
        if label == "target":
            continue
        lines.append(f"| {label} | " + " | ".join(f"{v:.4g}" for v in np.asarray(row)) + " |")
    if "target" in values:
        target = float(values["target"])
        lines.append("| target | " + " | ".join(f"{target:.4g}" for _ in steps_list) + " |")
    return "\n".join(lines)


def _line_style(label: str) -> dict[str, Any]:
    return {"ls": "--" if label.startswith("paper") else "-", "marker": "o", "ms": 4}


def ve_collapse_figure(steps_list: Sequence[int], values: Mapping[str, np.ndarray]) -> Figure:
    """Sample variance against N for each sampler (left) and its relative error (right)."""
    target = float(values["target"])
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(11, 4))
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


def edm_preconditioning_coefficients(
    sigmas: np.ndarray, sigma_data: float = 0.5
) -> dict[str, np.ndarray]:
    """c_skip, c_out, c_in, c_noise of :meth:`course_lib.sdes.VEEDMSDE.preconditioning`."""
    sde = sdes.get("ve-edm", sigma_data=sigma_data)
    coefs = sde.preconditioning(torch.as_tensor(np.asarray(sigmas, dtype=np.float64)))
    return dict(
        zip(("c_skip", "c_out", "c_in", "c_noise"), (c.numpy() for c in coefs), strict=True)
    )


def network_scales(
    sde_name: str,
    sigmas: Sequence[float],
    *,
    sigma_data: float = 0.5,
    n_samples: int = 20_000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Std of the network's input and of its regression target at each noise level (Monte Carlo).

    Data x_0 ~ N(0, sigma_data^2), x = x_0 + sigma n. The input is ``sde.network_inputs(x, t)`` and
    the target is ``sde.output_from_score`` of the conditional score -(x - x_0)/sigma^2: for "ve"
    the score itself (std 1/sigma), for "ve-edm" F = (x_0 - c_skip x)/c_out (std 1 for every sigma).
    """
    if sde_name not in ("ve", "ve-edm"):
        raise ValueError(f"network_scales compares 've' and 've-edm', got {sde_name!r}")
    overrides = {"sigma_data": sigma_data} if sde_name == "ve-edm" else {}
    sde = sdes.get(sde_name, **overrides)
    gen = torch.Generator().manual_seed(seed)
    x0 = sigma_data * torch.randn((n_samples, 1), generator=gen, dtype=torch.float64)
    noise = torch.randn((n_samples, 1), generator=gen, dtype=torch.float64)
    inputs, targets = [], []
    for sigma in sigmas:
        t = float(sde.time_of_noise_level(torch.tensor(float(sigma), dtype=torch.float64)))
        t = min(max(t, 0.0), sde.T)
        level = float(sde.noise_level(t))
        x = x0 + level * noise
        x_in, _ = sde.network_inputs(x, t)
        target = sde.output_from_score(-(x - x0) / level**2, x, t)
        inputs.append(float(x_in.std()))
        targets.append(float(target.std()))
    return {
        "sigma": np.asarray(sigmas, dtype=np.float64),
        "input_std": np.array(inputs),
        "target_std": np.array(targets),
    }


def edm_preconditioning_figure(sigma_data: float = 0.5, n_samples: int = 4000) -> Figure:
    """Left: c_skip, c_out, c_in, c_noise against sigma. Right: std of the network's input and
    target for the paper's VE parameterisation and for EDM's (:func:`network_scales`)."""
    if not (math.isfinite(sigma_data) and sigma_data > 0):
        raise ValueError(f"sigma_data must be a positive number, got {sigma_data}")
    edm = sdes.get("ve-edm", sigma_data=sigma_data)
    sigmas = np.geomspace(edm.sigma_min, edm.sigma_max, 60)
    coefs = edm_preconditioning_coefficients(sigmas, sigma_data)
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(11, 4))
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
    few = np.geomspace(edm.sigma_min, edm.sigma_max, 15)
    for name, style in (("ve", "--"), ("ve-edm", "-")):
        scales = network_scales(name, few, sigma_data=sigma_data, n_samples=n_samples)
        color = PROCESS_COLORS[name]
        ax1.loglog(
            few, scales["input_std"], style, marker="o", ms=3, color=color, label=f"{name}: input"
        )
        ax1.loglog(
            few,
            scales["target_std"],
            style,
            marker="s",
            ms=3,
            color=color,
            alpha=0.6,
            label=f"{name}: target",
        )
    ax1.set(
        xlabel=r"noise level $\sigma$",
        ylabel="standard deviation",
        title="what the network sees and must output",
    )
    ax1.legend(fontsize=8)
    return fig


def ve_sampler_metrics(
    steps: int, grid: str, solver: str, *, n_samples: int = 4000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """ "ve" and "ve-edm" with the same solver, steps and grid on the two-mode toy (exact score).

    Each process keeps its library default for the final denoising step (on for both), so this is
    what a policy of each kind does at sampling time. Returns per process the samples and
    :func:`sample_metrics`.
    """
    out = {}
    for name in ("ve", "ve-edm"):
        spec = SamplerSpec(name, name, solver, grid)
        samples = sample_toy(spec, steps, n_samples=n_samples, seed=seed)
        out[name] = {"samples": samples, **sample_metrics(samples)}
    return out


def _noise_levels(sde_name: str, steps: int, grid: str) -> np.ndarray:
    sde = sdes.get(sde_name)
    return sde.noise_level(solvers.time_grid(sde, steps, grid)).numpy()


def ve_sampler_figure(
    steps: int = 35, grid: str = "edm", solver: str = "heun", n_samples: int = 4000, seed: int = 0
) -> Figure:
    """Samples of "ve" and "ve-edm" over the two-mode density (left) and the noise levels of the
    chosen grid (right); W1 and the variance error in the legend."""
    metrics = ve_sampler_metrics(steps, grid, solver, n_samples=n_samples, seed=seed)
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(11, 4), width_ratios=[1.6, 1])
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
            color=PROCESS_COLORS[name],
            label=f"{name}: W1 = {m['w1']:.3f}, |Var/target - 1| = {m['variance_error']:.3f}",
        )
    ax0.set(xlabel="a", title=f"{solver}, N = {steps}, grid '{grid}' (exact score)")
    ax0.legend(fontsize=8, loc="upper left")
    for name in ("ve", "ve-edm"):
        levels = _noise_levels(name, steps, grid)
        ax1.semilogy(np.arange(levels.size), levels, ".-", color=PROCESS_COLORS[name], label=name)
    ax1.set(xlabel="grid index i", ylabel=r"noise level $\sigma(t_i)$", title="where the steps go")
    ax1.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# CLD: the paper's sampler against the exact reversal
# ---------------------------------------------------------------------------------------------

_PLAIN = (("ode_stepping", "plain"),)

#: The paper's CLD samplers (Eqs. 10-11) and the exact reversal's samplers: probability-flow steps
#: in t, exponential ones (the default, :mod:`course_lib.solvers.exponential`) and stochastic ones.
CLD_SPECS: tuple[SamplerSpec, ...] = (
    SamplerSpec("paper CLD, Euler", "cld", "euler"),
    SamplerSpec("paper CLD, Euler-Maruyama", "cld", "em"),
    SamplerSpec("cld-hsm, Euler in t (ODE)", "cld-hsm", "euler", sde_overrides=_PLAIN),
    SamplerSpec("cld-hsm, exponential Euler (ODE)", "cld-hsm", "euler"),
    SamplerSpec("cld-hsm, exponential Heun (ODE)", "cld-hsm", "heun"),
    SamplerSpec("cld-hsm, Euler-Maruyama", "cld-hsm", "em"),
    SamplerSpec("cld-hsm, SSCS", "cld-hsm", "sscs"),
)


def cld_convergence(
    steps_list: Sequence[int],
    specs: Sequence[SamplerSpec] = CLD_SPECS,
    *,
    n_samples: int = 4000,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """``{label: {"variance_ratio": ..., "w1": ...}}`` over ``steps_list`` on the two-mode toy."""
    out = {}
    for spec in specs:
        rows = [
            sample_metrics(sample_toy(spec, n, n_samples=n_samples, seed=seed)) for n in steps_list
        ]
        out[spec.label] = {
            key: np.array([r[key] for r in rows]) for key in ("variance_ratio", "w1")
        }
    return out


def _cld_color(label: str) -> str:
    solver = {"Euler-Maruyama": "em", "Heun": "heun", "SSCS": "sscs"}
    key = next((v for k, v in solver.items() if k in label), "euler")
    return SOLVER_COLORS[key]


def cld_convergence_figure(
    steps_list: Sequence[int], results: Mapping[str, Mapping[str, np.ndarray]]
) -> Figure:
    """Variance ratio and W1 against N: the paper's sampler (dashed), the exact reversal with
    steps in t (dotted) and with exponential or stochastic steps (solid)."""
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(11, 4))
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


def cld_time_laws(n_samples: int = 100_000, seed: int = 0) -> dict[str, np.ndarray]:
    """ln sigma_eff of CLD-HSM training times under each time law (see ``CLDHSM.sample_time``)."""
    out = {}
    for law in TIME_LAWS:
        hsm = sdes.get("cld-hsm", time_law=law)
        t = hsm.sample_time(
            n_samples, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
        )
        out[law] = np.log(hsm.effective_sigma(t).numpy())
    return out


def cld_time_laws_figure(
    laws: Mapping[str, np.ndarray] | None = None, n_samples: int = 100_000
) -> Figure:
    """Left: sigma_eff(t), the VE noise level u_t is as informative as. Right: where the training
    times of each law put ln sigma_eff (``laws`` from :func:`cld_time_laws`, drawn if None), against
    EDM's N(-1.2, 1.2^2) band (mean +- 2 std)."""
    hsm = sdes.get("cld-hsm")
    fig, (ax0, ax1) = _subplots(1, 2, figsize=(11, 4))
    t = np.geomspace(hsm.t_eps, hsm.T, 400)
    ax0.loglog(t, hsm.effective_sigma(torch.as_tensor(t)).numpy(), color="k")
    ax0.set(xlabel="t", ylabel=r"$\sigma_{eff}(t)$", title="CLD-HSM as VE noise", ylim=(1e-4, 1e3))
    band = (hsm.p_mean - 2 * hsm.p_std, hsm.p_mean + 2 * hsm.p_std)
    ax1.axvspan(*band, color="0.85", label="EDM: 95% of levels")
    bins = np.linspace(-8.0, 6.0, 57)
    for law, values in (laws or cld_time_laws(n_samples)).items():
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


def _phase_panel(ax, spec: SamplerSpec, steps: int, states: np.ndarray, n_paths: int) -> None:
    """Phase-plane trajectories of the first ``n_paths`` samples of ``states`` (steps+1, n, 2)."""
    pos, mom = states[:, :n_paths, 0], states[:, :n_paths, 1]
    ax.plot(pos, mom, lw=0.6, alpha=0.6, color=PROCESS_COLORS[spec.sde])
    ax.plot(pos[0], mom[0], "o", ms=3, color="grey", label="prior draw")
    ax.plot(pos[-1], mom[-1], "k.", ms=5, label="end")
    names = ("a", "p") if spec.sde == "cld" else ("x", "v")
    ax.set(xlabel=f"position {names[0]}", ylabel=f"momentum {names[1]}")
    ax.set_title(f"{spec.label}, N = {steps}, T = {spec.build_sde().T:g}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")


def cld_phase_figure(
    steps: int = 60,
    paper_solver: str = "euler",
    hsm_solver: str = "heun",
    n_samples: int = 2000,
    n_paths: int = 8,
    seed: int = 0,
) -> Figure:
    """Phase-space trajectories of the paper's CLD sampler and of the exact reversal (cld-hsm),
    both with exact scores of the two-mode toy, and histograms of their samples over the data."""
    _check_count(n_paths=n_paths, n_samples=n_samples)
    paper = SamplerSpec(f"paper CLD, {paper_solver}", "cld", paper_solver)
    exact = SamplerSpec(f"cld-hsm, {hsm_solver}", "cld-hsm", hsm_solver)
    fig, axes = _subplots(1, 3, figsize=(14, 4.2))
    xs, dens = _density_curve("two-mode", -4.0, 4.0)
    axes[2].fill_between(xs, dens, color="k", alpha=0.12, label="target density")
    bins = np.linspace(-4.0, 4.0, 81)
    for ax, spec in zip(axes[:2], (paper, exact), strict=True):
        samples, path = sample_toy(spec, steps, n_samples=n_samples, seed=seed, return_path=True)
        _phase_panel(ax, spec, steps, path.states.numpy(), min(n_paths, n_samples))
        m = sample_metrics(samples)
        axes[2].hist(
            np.clip(samples, -4.0, 4.0),
            bins=bins,
            density=True,
            histtype="step",
            lw=1.8,
            color=PROCESS_COLORS[spec.sde],
            label=f"{spec.label}: W1 {m['w1']:.3f}, Var ratio {m['variance_ratio']:.2f}",
        )
    axes[2].set(xlabel="position", title=f"{n_samples} samples, N = {steps}")
    axes[2].legend(fontsize=7, loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------------
# PushT: the corrected table and a live demo
# ---------------------------------------------------------------------------------------------

#: Written by ``python -m course_lib reproduce`` (``make reproduce``).
CORRECTED_TABLE = "table1_corrected.json"
#: A score difference counted as a change: about two standard errors for 50 episodes
#: (CALIBRATION.md measures 0.02-0.03 for one standard error).
NOTABLE_CHANGE = 0.05


def load_corrected_table(path: str | Path | None = None) -> dict[str, Any]:
    """The payload of ``figures/table1_corrected.json``; a clear error when it is not there."""
    path = Path(path) if path is not None else config.FIGURES_DIR / CORRECTED_TABLE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run `make reproduce` (python -m course_lib reproduce) to "
            "train and evaluate every process and write the corrected Table 1"
        )
    payload = json.loads(path.read_text())
    missing = {"episodes", "results"} - set(payload)
    if missing:
        raise ValueError(f"{path} lacks the keys {sorted(missing)}; rerun `make reproduce`")
    return payload


@dataclass(frozen=True)
class CellComparison:
    """One (process, solver) cell: the paper's score, ours for the paper's process and for its
    correction (``None`` where a cell does not exist)."""

    paper_sde: str
    corrected_sde: str
    solver: str
    paper: float | None
    reproduced: float | None
    corrected: float | None
    corrected_success: float | None

    @property
    def gain_over_paper(self) -> float | None:
        return None if self.paper is None or self.corrected is None else self.corrected - self.paper

    @property
    def gain_over_reproduced(self) -> float | None:
        if (
            self.reproduced is None
            or self.corrected is None
            or self.corrected_sde == self.paper_sde
        ):
            return None
        return self.corrected - self.reproduced


def compare_cells(payload: Mapping[str, Any]) -> list[CellComparison]:
    """Every cell of the paper's Table 1 and of its corrected processes, side by side."""
    from course_lib.paper import CORRECTION_OF, PAPER_TABLE1

    results = payload["results"]
    rows = []
    for paper_sde, corrected_sde in CORRECTION_OF.items():
        paper_row = PAPER_TABLE1.get(paper_sde, {})
        ours, fixed = results.get(paper_sde, {}), results.get(corrected_sde, {})
        for solver in SOLVER_ORDER:
            if solver not in paper_row and solver not in ours and solver not in fixed:
                continue
            cell = fixed.get(solver)
            rows.append(
                CellComparison(
                    paper_sde=paper_sde,
                    corrected_sde=corrected_sde,
                    solver=solver,
                    paper=paper_row.get(solver),
                    reproduced=ours[solver]["mean_score"] if solver in ours else None,
                    corrected=cell["mean_score"] if cell else None,
                    corrected_success=cell["success_rate"] if cell else None,
                )
            )
    return rows


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def comparison_markdown(rows: Iterable[CellComparison]) -> str:
    """The comparison as a Markdown table (mean score; success rate of the corrected cell)."""
    lines = [
        "| paper's SDE | solver | paper | ours, paper's SDE | corrected SDE | ours, corrected "
        "| success | gain over paper | gain over ours |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        success = "–" if r.corrected_success is None else f"{r.corrected_success:.0%}"
        lines.append(
            f"| {r.paper_sde.upper()} | {r.solver} | {_fmt(r.paper)} | {_fmt(r.reproduced)} "
            f"| {r.corrected_sde.upper()} | {_fmt(r.corrected)} | {success} "
            f"| {_fmt(r.gain_over_paper, True)} | {_fmt(r.gain_over_reproduced, True)} |"
        )
    return "\n".join(lines)


def improvement_summary(
    rows: Iterable[CellComparison], threshold: float = NOTABLE_CHANGE
) -> list[str]:
    """One sentence per cell with a paper value and a corrected value, largest gain first."""
    scored = [r for r in rows if r.gain_over_paper is not None]
    scored.sort(key=lambda r: r.gain_over_paper, reverse=True)
    sentences = []
    for r in scored:
        gain = r.gain_over_paper
        verdict = (
            "improved" if gain > threshold else ("worse" if gain < -threshold else "unchanged")
        )
        text = (
            f"{r.paper_sde.upper()} {r.solver}: paper {r.paper:.3f} -> {r.corrected_sde.upper()} "
            f"{r.corrected:.3f} ({gain:+.3f}, {verdict} at the ±{threshold:g} noise level)"
        )
        if r.gain_over_reproduced is not None:
            text += f"; {r.gain_over_reproduced:+.3f} over the paper's {r.paper_sde.upper()} trained here"
        sentences.append(text)
    return sentences


@dataclass
class DemoChunks:
    """Action chunks (n_samples, horizon, 2) in world pixels for one solver, and the wall time."""

    solver: str
    steps: int
    chunks: np.ndarray
    seconds: float


def demo_chunks(
    policy,
    obs_history: np.ndarray,
    solver_steps: Mapping[str, int],
    *,
    n_samples: int = 8,
    seed: int = 0,
) -> list[DemoChunks]:
    """Sample ``n_samples`` chunks for one observation history with each (solver, steps)."""
    _check_count(n_samples=n_samples)
    obs = np.repeat(np.asarray(obs_history)[None], n_samples, axis=0)
    out = []
    for solver, steps in solver_steps.items():
        start = time.perf_counter()
        chunks = policy.act(
            obs, solver=solver, steps=steps, generator=torch.Generator().manual_seed(seed)
        )
        out.append(DemoChunks(solver, steps, chunks, time.perf_counter() - start))
    return out


def chunk_statistics(result: DemoChunks, demo_chunk: np.ndarray) -> dict[str, float]:
    """``rms_px``: root-mean-square distance of the sampled targets to the demonstration's chunk;
    ``roughness_px``: mean |a_{k+1} - 2 a_k + a_{k-1}| along each chunk (0 on a straight, evenly
    spaced path). Both in world pixels, averaged over the samples."""
    chunks = np.asarray(result.chunks, dtype=np.float64)
    demo = np.asarray(demo_chunk, dtype=np.float64)
    if chunks.shape[1:] != demo.shape:
        raise ValueError(f"demo_chunk must have shape {chunks.shape[1:]}, got {demo.shape}")
    rms = float(np.sqrt(((chunks - demo[None]) ** 2).sum(-1).mean()))
    second = np.diff(chunks, n=2, axis=1)
    return {"rms_px": rms, "roughness_px": float(np.linalg.norm(second, axis=-1).mean())}


def demo_chunks_figure(
    state: np.ndarray,
    by_model: Mapping[str, Sequence[DemoChunks]],
    demo_chunk: np.ndarray | None = None,
) -> Figure:
    """One scene per model with its sampled chunks (one colour per solver) and the demonstration's
    recorded chunk in black."""
    fig, axes = _subplots(1, len(by_model), figsize=(5.2 * len(by_model), 5.2), squeeze=False)
    for ax, (name, results) in zip(axes[0], by_model.items(), strict=True):
        draw_scene(ax, state, title=f"{name}: sampled chunks")
        for result in results:
            color = SOLVER_COLORS.get(result.solver, "grey")
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

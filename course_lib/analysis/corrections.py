"""The experiments of notebook 10, "Beyond the paper": a VE sampler that works and the exact CLD
reversal, each measured with exact scores on the ``toy`` presets (deterministic given ``seed``).

* VE. The paper's probability-flow samplers step in t; :data:`VE_LADDER` adds Karras et al.'s
  fixes one at a time (Euler in sigma = the DDIM step, the rho = 7 grid, Heun on all but the last
  step, the final step to sigma = 0) and :func:`ve_ladder_variances` measures each.
  :func:`network_scales` shows what the preconditioning c_skip, c_out, c_in does.
* CLD. The paper's sampler (Eqs. 10-11, position score as a force) against Dockhorn et al.'s exact
  reversal ("cld-hsm", velocity score of the joint density) on the two-mode toy.
* VP. "vp-edm" keeps the paper's VP process and preconditions its network as EDM does; its
  network then computes VE-EDM's denoiser, and :func:`vp_edm_as_ve_edm` samples it with VE's ODE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from course_lib import sdes, solvers, toy
from course_lib.analysis.samplers import SamplerSpec, ToyRun, sample_toy, toy_run
from course_lib.arguments import check_count, check_positive
from course_lib.policy import DiffusionPolicy
from course_lib.sdes.cld_hsm import TIME_LAWS
from course_lib.solvers.moments import linear_flow_map

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

    Deterministic solvers: the exact score is linear in x, so the sampler maps x_T to c x_T
    (``solvers.moments.linear_flow_map``) and the variance is c^2 std(T)^2, the prior's variance
    times c^2, with no Monte-Carlo error. Stochastic solvers: the sample variance of ``n_samples``
    draws of the toy sampler.
    """
    check_count(steps=steps)
    if spec.stochastic:
        samples = sample_toy(spec, steps, target="gaussian", n_samples=n_samples, seed=seed)
        return float(np.var(samples, ddof=1))
    sde = spec.build_sde()
    gain = linear_flow_map(
        sde,
        toy.preset("gaussian").score_fn(sde),
        spec.solver,
        steps,
        grid=spec.grid,
        denoise_final=spec.denoise_final,
    )
    return float(gain[0, 0]) ** 2 * float(sde.std(sde.T)) ** 2


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
    out["target"] = np.array(float(toy.preset("gaussian").variance()[0]))
    return out


def edm_preconditioning_coefficients(
    sigmas: np.ndarray, sigma_data: float = 0.5
) -> dict[str, np.ndarray]:
    """c_skip, c_out, c_in, c_noise of :meth:`course_lib.sdes.VEEDMSDE.preconditioning`."""
    sde = sdes.get("ve-edm", sigma_data=sigma_data)
    coefs = sde.preconditioning(torch.as_tensor(np.asarray(sigmas, dtype=np.float64)))
    return dict(
        zip(("c_skip", "c_out", "c_in", "c_noise"), (c.numpy() for c in coefs), strict=False)
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
    sde = sdes.get(sde_name)
    if hasattr(sde, "sigma_data"):  # a preconditioned process is built for the data's scale
        sde = sdes.get(sde_name, sigma_data=sigma_data)
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


def preconditioning_scales(
    sigma_data: float = 0.5, n_samples: int = 4000
) -> dict[str, dict[str, np.ndarray]]:
    """What ``edm_preconditioning_figure`` draws: ``"coefficients"`` on 60 noise levels between
    sigma_min and sigma_max of "ve-edm" (with their ``"sigma"``), and :func:`network_scales` of
    "ve" and "ve-edm" on 15 of them."""
    check_positive(sigma_data=sigma_data)
    edm = sdes.get("ve-edm", sigma_data=sigma_data)
    sigmas = np.geomspace(edm.sigma_min, edm.sigma_max, 60)
    few = np.geomspace(edm.sigma_min, edm.sigma_max, 15)
    coefficients = {"sigma": sigmas, **edm_preconditioning_coefficients(sigmas, sigma_data)}
    scales = {
        name: network_scales(name, few, sigma_data=sigma_data, n_samples=n_samples)
        for name in ("ve", "ve-edm")
    }
    return {"coefficients": coefficients, **scales}


def ve_sampler_metrics(
    steps: int, grid: str, solver: str, *, n_samples: int = 4000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """ "ve" and "ve-edm" with the same solver, steps and grid on the two-mode toy (exact score).

    Each process keeps its library default for the final denoising step (on for both), so this is
    what a policy of each kind does at sampling time. Returns per process the ``samples``, the
    ``noise_levels`` of its grid and ``toy.sample_metrics``.
    """
    out = {}
    for name in ("ve", "ve-edm"):
        spec = SamplerSpec(name, name, solver, grid)
        samples = sample_toy(spec, steps, n_samples=n_samples, seed=seed)
        out[name] = {
            "samples": samples,
            "noise_levels": noise_levels(name, steps, grid),
            **toy.sample_metrics(samples),
        }
    return out


def noise_levels(sde_name: str, steps: int, grid: str) -> np.ndarray:
    """The noise levels sigma(t_i) of the time grid of ``steps`` steps of kind ``grid``."""
    sde = sdes.get(sde_name)
    return sde.noise_level(solvers.time_grid(sde, steps, grid)).numpy()


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
            toy.sample_metrics(sample_toy(spec, n, n_samples=n_samples, seed=seed))
            for n in steps_list
        ]
        out[spec.label] = {
            key: np.array([r[key] for r in rows]) for key in ("variance_ratio", "w1")
        }
    return out


def cld_sampler_runs(
    steps: int = 60,
    paper_solver: str = "euler",
    hsm_solver: str = "heun",
    n_samples: int = 2000,
    seed: int = 0,
) -> list[ToyRun]:
    """The paper's CLD sampler and the exact reversal (cld-hsm) on the two-mode toy, with their
    phase-space paths (what ``cld_phase_figure`` draws)."""
    check_count(steps=steps, n_samples=n_samples)
    specs = (
        SamplerSpec(f"paper CLD, {paper_solver}", "cld", paper_solver),
        SamplerSpec(f"cld-hsm, {hsm_solver}", "cld-hsm", hsm_solver),
    )
    return [toy_run(s, steps, n_samples=n_samples, seed=seed, return_path=True) for s in specs]


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


# ---------------------------------------------------------------------------------------------
# VP: the paper's process, EDM's network
# ---------------------------------------------------------------------------------------------


def vp_edm_as_ve_edm(policy: DiffusionPolicy) -> DiffusionPolicy:
    """The same weights read as a VE-EDM policy: one network, sampled on VE's ODE in sigma.

    VP-EDM writes x_t = m (x_0 + sigma n) and gives its network c_in x_t/m and ln(sigma)/4; VE-EDM
    gives c_in x and ln(sigma)/4 at x = x_0 + sigma n. Both train F towards (x_0 - c_skip x)/c_out,
    so a trained VP-EDM network is a VE-EDM denoiser (EDM Secs. 2-3: the processes differ only in the
    scale m(t) of one ODE). The copy takes VE-EDM's default sampler (Heun in sigma, rho = 7 grid).
    """
    if policy.cfg.sde != "vp-edm":
        raise ValueError(f"only a 'vp-edm' policy has VE-EDM's network, got {policy.cfg.sde!r}")
    cfg = dataclasses.replace(
        policy.cfg,
        sde="ve-edm",
        sde_overrides={"sigma_data": policy.sde.sigma_data},
        solver=None,
        steps=None,
    )
    twin = DiffusionPolicy(
        cfg, policy.obs_normalizer, policy.action_normalizer, metadata=dict(policy.metadata)
    )
    twin.load_state_dict(policy.state_dict())
    return twin.to(policy.device).eval()

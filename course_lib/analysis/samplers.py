"""Runs of the toy sampler recorded for the figures: which sampler, and what it drew.

A :class:`SamplerSpec` names one sampler of ``solvers.sample`` (process, solver, grid, final step,
process overrides); :func:`toy_run` runs it with the exact score of a ``toy`` preset
(``toy.sample``) and keeps the samples and, if asked, the whole phase-space path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib import sdes, solvers, toy


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
        return solvers.solver_info(self.solver).stochastic


@dataclass(frozen=True)
class ToyRun:
    """What one run of the toy sampler drew: ``samples`` (n, d) and, when recorded, ``states``
    (K, n, d * state_factor), the phase-space path from the prior draw (index 0) to the end."""

    spec: SamplerSpec
    steps: int
    target: str
    samples: np.ndarray
    states: np.ndarray | None
    T: float


def toy_run(
    spec: SamplerSpec,
    steps: int,
    *,
    target: str = "two-mode",
    n_samples: int = 4000,
    seed: int = 0,
    return_path: bool = False,
) -> ToyRun:
    """Run ``spec`` from the prior with the exact score of preset ``target`` (``toy.sample``)."""
    sde = spec.build_sde()
    out = toy.sample(
        sde,
        spec.solver,
        steps,
        target=target,
        n_samples=n_samples,
        seed=seed,
        grid=spec.grid,
        denoise_final=spec.denoise_final,
        return_path=return_path,
    )
    samples, states = (out[0], out[1].states.numpy()) if return_path else (out, None)
    return ToyRun(spec, steps, target, samples.numpy(), states, float(sde.T))


def sample_toy(
    spec: SamplerSpec, steps: int, *, target: str = "two-mode", n_samples: int = 4000, seed: int = 0
) -> np.ndarray:
    """The samples (n_samples,) of ``spec`` on a 1-D preset (see :func:`toy_run`)."""
    return toy_run(spec, steps, target=target, n_samples=n_samples, seed=seed).samples[:, 0]

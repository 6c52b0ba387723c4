"""Widgets of notebook 08: reverse-time paths of action chunks for the shipped models.

``sampling_app`` is a thin wrapper over ``ChunkSampler.figure``, a pure function of (sde, solver,
steps, index) that the tests call directly; trajectories are cached per (sde, solver, steps) so
moving the diffusion-time slider only redraws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_lib import shipped
from course_lib.analysis.chunks import ChunkTrajectories, sample_chunk_trajectories
from course_lib.plots.base import new_figure
from course_lib.plots.policy import reverse_chunks_figure
from course_lib.solvers import check_solver

#: The shipped models offered by the sampling widget, the paper's first (the registry's order).
SHIPPED_MODELS = tuple(shipped.names())
#: Step counts offered by the widget.
MIN_STEPS, MAX_STEPS = 1, 200


def _load_pretrained(name: str):
    return shipped.load(name)


class ChunkSampler:
    """Sampled chunk paths of the shipped models for one observation, and their figure."""

    def __init__(
        self,
        obs_history: np.ndarray,
        state: np.ndarray,
        *,
        demo_chunk: np.ndarray | None = None,
        names: Sequence[str] = SHIPPED_MODELS,
        n_samples: int = 8,
        seed: int = 0,
        loader: Callable[[str], Any] = _load_pretrained,
    ):
        if not names:
            raise ValueError("give at least one model name")
        self.obs_history = np.asarray(obs_history, dtype=np.float32)
        self.state = np.asarray(state, dtype=np.float64)
        self.demo_chunk = demo_chunk
        self.names = tuple(names)
        self.n_samples = n_samples
        self.seed = seed
        self.policy = lru_cache(maxsize=None)(loader)
        self.trajectories = lru_cache(maxsize=32)(self._sample)

    def _sample(self, sde: str, solver: str, steps: int) -> ChunkTrajectories:
        return sample_chunk_trajectories(
            self.policy(sde),
            self.obs_history,
            solver=solver,
            steps=steps,
            n_samples=self.n_samples,
            seed=self.seed,
        )

    def figure(self, sde: str, solver: str, steps: int, index: int) -> Figure:
        """Chunks of ``sde`` sampled with ``solver``-``steps`` at path index ``index`` (clamped to
        the path's end). A solver the SDE does not define gives a figure that says why."""
        if sde not in self.names:
            raise ValueError(f"unknown model {sde!r}; choose one of {self.names}")
        policy = self.policy(sde)
        try:
            check_solver(policy.sde, solver)
        except ValueError as exc:
            return _message_figure(str(exc))
        traj = self.trajectories(sde, solver, int(steps))
        index = min(max(int(index), 0), len(traj.times) - 1)
        return reverse_chunks_figure(traj, self.state, index, demo_chunk=self.demo_chunk)


def _message_figure(text: str) -> Figure:
    fig, ax = new_figure(figsize=(8, 1.2))
    ax.axis("off")
    ax.text(0.0, 0.5, text, wrap=True, fontsize=10, va="center")
    return fig


def sampling_app(
    obs_history: np.ndarray,
    state: np.ndarray,
    *,
    demo_chunk: np.ndarray | None = None,
    names: Sequence[str] = SHIPPED_MODELS,
    n_samples: int = 8,
    seed: int = 0,
    loader: Callable[[str], Any] = _load_pretrained,
):
    """Sliders for SDE, solver, step count and diffusion time (index into the path) over
    ``ChunkSampler.figure``. The solver list follows the SDE, the index range follows the steps;
    each user action redraws once (the dependent controls change under the app's hold)."""
    from course_lib.widgets import slider_app

    sampler = ChunkSampler(
        obs_history,
        state,
        demo_chunk=demo_chunk,
        names=names,
        n_samples=n_samples,
        seed=seed,
        loader=loader,
    )
    first = sampler.names[0]
    first_cfg = sampler.policy(first).cfg
    sde = widgets.Dropdown(options=list(sampler.names), value=first, description="SDE")
    solver = widgets.Dropdown(
        options=list(sampler.policy(first).sde.solvers),
        value=first_cfg.solver,
        description="solver",
    )
    steps = widgets.IntSlider(
        first_cfg.steps,
        min=MIN_STEPS,
        max=MAX_STEPS,
        description="steps N",
        continuous_update=False,
    )
    index = widgets.IntSlider(
        first_cfg.steps, min=0, max=first_cfg.steps, description="index", continuous_update=False
    )

    def follow(name: str, value: Any) -> None:
        """The solver list and default sampler follow the SDE; the index range follows N."""
        if name == "sde":
            policy = sampler.policy(value)
            cfg = policy.cfg
            with solver.hold_sync():
                solver.options = list(policy.sde.solvers)
                solver.value = cfg.solver
            steps.value = cfg.steps
        if name in ("sde", "steps"):
            at_end = index.value == index.max
            with index.hold_sync():
                index.max = steps.value
                if at_end:
                    index.value = index.max

    app = slider_app(
        sampler.figure,
        title="Reverse-time paths of the action chunk (index 0 = prior draw, last = the chunk)",
        follow=follow,
        sde=sde,
        solver=solver,
        steps=steps,
        index=index,
    )
    app.sampler = sampler
    return app

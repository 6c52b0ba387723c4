"""Slider apps of notebook 10, each a thin wrapper over a pure function of
:mod:`course_lib.plots.corrections`.

``n_samples`` sets the Monte-Carlo size of the sampling widgets (tests pass a small one);
``app.run(**values)`` redraws synchronously and raises ``CallbackError`` on failure.
"""

from __future__ import annotations

import ipywidgets as widgets
from matplotlib.figure import Figure

from course_lib import sdes
from course_lib.analysis import corrections as experiments
from course_lib.plots import corrections as figures
from course_lib.solvers import GRID_KINDS
from course_lib.widgets.base import SliderApp, slider_app


def _int(value: int, low: int, high: int, label: str) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value, min=low, max=high, description=label, continuous_update=False
    )


def _choice(options, value: str, label: str) -> widgets.Dropdown:
    return widgets.Dropdown(options=list(options), value=value, description=label)


def ve_sampler_widget(n_samples: int = 4000) -> SliderApp:
    """ "ve" against "ve-edm" on the two-mode toy: steps, grid kind and solver."""

    def ve_samplers(steps: int, grid: str, solver: str) -> Figure:
        metrics = experiments.ve_sampler_metrics(steps, grid, solver, n_samples=n_samples)
        return figures.ve_sampler_figure(metrics, steps, grid, solver)

    return slider_app(
        ve_samplers,
        "VE: the paper's sampler (steps in t) against EDM's (steps in σ), exact score",
        steps=_int(35, 2, 100, "steps N"),
        grid=_choice(GRID_KINDS, "edm", "grid"),
        solver=_choice(sdes.sde_class("ve-edm").solvers, "heun", "solver"),
    )


def cld_sampler_widget(n_samples: int = 2000) -> SliderApp:
    """The paper's CLD sampler against the exact reversal (cld-hsm): steps and both solvers."""

    def cld_samplers(steps: int, paper_solver: str, hsm_solver: str) -> Figure:
        runs = experiments.cld_sampler_runs(steps, paper_solver, hsm_solver, n_samples=n_samples)
        return figures.cld_phase_figure(runs)

    return slider_app(
        cld_samplers,
        "CLD: position score as a force (paper) against the velocity score (exact reversal)",
        steps=_int(60, 5, 200, "steps N"),
        paper_solver=_choice(sdes.sde_class("cld").solvers, "euler", "paper"),
        hsm_solver=_choice(sdes.sde_class("cld-hsm").solvers, "heun", "cld-hsm"),
    )


def preconditioning_widget(n_samples: int = 4000) -> SliderApp:
    """EDM's c_skip, c_out, c_in, c_noise and the network's input/target scales, slider sigma_d."""

    def preconditioning(sigma_data: float) -> Figure:
        scales = experiments.preconditioning_scales(sigma_data, n_samples=n_samples)
        return figures.edm_preconditioning_figure(scales, sigma_data)

    return slider_app(
        preconditioning,
        "EDM preconditioning",
        sigma_data=widgets.FloatSlider(
            value=0.5, min=0.1, max=2.0, step=0.05, description="σ_data", continuous_update=False
        ),
    )


#: Every builder of this module, for the tests.
BUILDERS = (ve_sampler_widget, cld_sampler_widget, preconditioning_widget)

"""Slider apps of notebooks 01-05: each wraps one pure function of :mod:`course_lib.plots.calculus`
or an experiment of :mod:`course_lib.analysis` drawn by :mod:`course_lib.plots.reverse`.

Every builder returns a :class:`~course_lib.widgets.base.SliderApp`; ``app.run(**values)`` redraws
synchronously and raises ``CallbackError`` on failure (the tests drive every control through it).
"""

from __future__ import annotations

import ipywidgets as widgets
from matplotlib.figure import Figure

from course_lib.analysis.gaussian import cld_generative_covariances
from course_lib.analysis.samplers import SamplerSpec, toy_run
from course_lib.plots import calculus as figures
from course_lib.plots import reverse
from course_lib.widgets.base import SliderApp, slider_app


def _decimals(step: float) -> int:
    """Decimals needed to tell two values one ``step`` apart (0.0001 -> 4, 0.25 -> 2, 1.0 -> 0)."""
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1])


def _float(value: float, low: float, high: float, step: float, label: str) -> widgets.FloatSlider:
    """A slider whose readout shows as many decimals as its step, so neighbours read differently."""
    return widgets.FloatSlider(
        value=value,
        min=low,
        max=high,
        step=step,
        description=label,
        continuous_update=False,
        readout_format=f".{_decimals(step)}f",
    )


def _log(value: float, low_exp: float, high_exp: float, label: str) -> widgets.FloatLogSlider:
    return widgets.FloatLogSlider(
        value=value,
        base=10,
        min=low_exp,
        max=high_exp,
        step=0.05,
        description=label,
        continuous_update=False,
    )


def _int(value: int, low: int, high: int, label: str, step: int = 1) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value, min=low, max=high, step=step, description=label, continuous_update=False
    )


def ou_widget() -> SliderApp:
    """01: OU paths against the exact mean and variance band, sliders theta, sigma, x0."""
    return slider_app(
        figures.ou_figure,
        "Ornstein-Uhlenbeck: dX = -θX dt + σ dW",
        theta=_float(1.0, 0.1, 5.0, 0.1, "θ"),
        sigma=_float(0.5, 0.1, 2.0, 0.05, "σ"),
        x0=_float(2.0, -3.0, 3.0, 0.1, "x₀"),
    )


def vp_schedule_widget() -> SliderApp:
    """02: the cosine schedule under sliders for its offset s and end time T."""
    return slider_app(
        figures.vp_schedule_figure,
        "VP cosine schedule",
        s=_log(0.008, -3, -1, "s"),
        T=_float(0.9946, 0.9, 0.999, 0.0001, "T"),
    )


def vp_paths_widget() -> SliderApp:
    """02: forward VP paths from a_0 inside the kernel band."""
    return slider_app(
        figures.vp_paths_figure,
        "VP forward paths",
        s=_log(0.008, -3, -1, "s"),
        T=_float(0.9946, 0.9, 0.999, 0.0001, "T"),
        x0=_float(1.5, -3.0, 3.0, 0.1, "a₀"),
    )


def ve_schedule_widget() -> SliderApp:
    """03: the geometric VE schedule and the exact kernel variance, sliders sigma_min, sigma_max."""
    return slider_app(
        figures.ve_schedule_figure,
        "VE schedule",
        sigma_min=_log(0.01, -3, -0.5, "σ_min"),
        sigma_max=_log(50.0, 0.5, 2.5, "σ_max"),
    )


def euler_factor_widget() -> SliderApp:
    """03: Euler's factor 1 - L h against exp(-L h) for N uniform steps."""
    return slider_app(
        figures.euler_factor_figure,
        "Euler in t on the VE probability-flow ODE",
        steps=_int(20, 2, 200, "N"),
        sigma_min=_log(0.01, -3, -0.5, "σ_min"),
        sigma_max=_log(50.0, 0.5, 2.5, "σ_max"),
    )


def cld_covariance_widget() -> SliderApp:
    """04: entries of the CLD kernel covariance and sigma_CLD^2, slider gamma."""
    return slider_app(
        figures.cld_covariance_figure,
        "paper's CLD kernel",
        gamma=_float(3.0, 0.5, 10.0, 0.1, "γ"),
        t_max=_float(3.0, 0.5, 10.0, 0.5, "t max"),
    )


def cld_phase_widget() -> SliderApp:
    """04: forward CLD paths in phase space, sliders gamma and horizon."""
    return slider_app(
        figures.cld_phase_figure,
        "CLD in phase space",
        gamma=_float(3.0, 0.2, 10.0, 0.1, "γ"),
        t_end=_float(2.0, 0.5, 6.0, 0.25, "t end"),
    )


def cld_reversal(gamma: float = 3.0, T: float = 14.0, data_var: float = 0.25) -> Figure:
    """The CLD covariances along generative time (800 RK4 steps), drawn."""
    paths = cld_generative_covariances(gamma, T, data_var, steps=800)
    return reverse.cld_reversal_figure(paths, gamma, T, data_var)


def reverse_toy(
    solver: str = "heun", steps: int = 50, sde_name: str = "vp", n_samples: int = 600, seed: int = 0
) -> Figure:
    """The toy sampler on the 2-D three-mode preset with its paths, drawn."""
    spec = SamplerSpec(f"{sde_name} {solver}", sde_name, solver)
    run = toy_run(
        spec, steps, target="three-mode-2d", n_samples=n_samples, seed=seed, return_path=True
    )
    return reverse.reverse_toy_figure(run)


def cld_reversal_widget() -> SliderApp:
    """04: Var(a) along generative time: exact reversal against the paper's Eqs. 10-11."""
    return slider_app(
        cld_reversal,
        "paper's CLD sampler against the exact reversal (Gaussian data)",
        gamma=_float(3.0, 0.5, 6.0, 0.1, "γ"),
        T=_float(14.0, 2.0, 20.0, 1.0, "T"),
        data_var=_float(0.25, 0.05, 1.0, 0.05, "data var"),
    )


def reverse_toy_widget() -> SliderApp:
    """05: exact-score sampling of the 2-D toy; solver, steps and SDE controls."""
    return slider_app(
        reverse_toy,
        "reverse SDE and probability-flow ODE on a 2-D mixture",
        solver=widgets.Dropdown(
            options=["euler", "heun", "em"], value="heun", description="solver"
        ),
        steps=_int(50, 2, 200, "steps"),
        sde_name=widgets.Dropdown(options=["vp", "ve"], value="vp", description="SDE"),
    )


#: Every builder of this module, for the tests.
BUILDERS = (
    ou_widget,
    vp_schedule_widget,
    vp_paths_widget,
    ve_schedule_widget,
    euler_factor_widget,
    cld_covariance_widget,
    cld_phase_widget,
    cld_reversal_widget,
    reverse_toy_widget,
)

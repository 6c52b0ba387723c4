"""Every slider of notebooks 01-05 at its minimum, middle and maximum; the experiments behind the
figures (``analysis.gaussian``, the toy sampler) and their agreement with ``solvers.moments``."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest
import torch

from course_lib import sdes, solvers, toy
from course_lib.analysis import gaussian
from course_lib.analysis.samplers import SamplerSpec, sample_toy
from course_lib.plots import calculus as figures
from course_lib.plots import reverse
from course_lib.widgets import CallbackError, calculus

matplotlib.use("Agg")
torch.set_num_threads(1)  # two shared cores: one thread is ten times faster here


def _control_values(control: widgets.ValueWidget) -> list:
    """Minimum, middle and maximum of a slider (log sliders in exponent space); every option."""
    if isinstance(control, widgets.Dropdown):
        return (
            [value for _, value in control.options]
            if isinstance(control.options[0], tuple)
            else list(control.options)
        )
    if isinstance(control, widgets.FloatLogSlider):
        exponents = [control.min, (control.min + control.max) / 2, control.max]
        return [control.base**e for e in exponents]
    middle = (control.min + control.max) / 2
    if isinstance(control, widgets.IntSlider):
        middle = int(round(middle))
    return [control.min, middle, control.max]


@pytest.mark.parametrize("builder", calculus.BUILDERS, ids=lambda b: b.__name__)
def test_every_control_at_its_extremes_draws_a_figure(builder):
    app = builder()
    assert app.last_error is None, f"{builder.__name__} failed at its defaults: {app.last_error}"
    for name, control in app.controls.items():
        for value in _control_values(control):
            result = app.run(**{name: value})
            assert isinstance(result, matplotlib.figure.Figure), (name, value)
            assert result.axes, f"{builder.__name__}({name}={value}) drew no axes"


def test_run_reports_a_failing_callback():
    app = calculus.ve_schedule_widget()
    with pytest.raises(CallbackError):
        app.run(sigma_min=100.0)  # above sigma_max: the SDE refuses it


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="gamma must be a positive number"):
        figures.cld_covariance_figure(gamma=-1.0)
    with pytest.raises(ValueError, match="sigma_max > sigma_min"):
        figures.euler_factor_figure(steps=10, sigma_min=1.0, sigma_max=0.5)


# ------------------------------------------------------------------ numbers behind the figures


def test_float32_cosine_beta_is_negative_at_one_and_fine_in_float64():
    assert figures.cosine_beta(np.array([1.0]), 0.008, np.float32)[0] < 0
    t = np.array([0.0, 0.5, 0.9, 0.99])
    np.testing.assert_allclose(figures.cosine_beta(t), [0.0389, 3.156, 19.84, 200.0], rtol=2e-3)


def test_ddpm_product_converges_to_alpha_bar_at_first_order():
    coarse, fine = (
        figures.ddpm_alpha_bar_error(100, T=0.98),
        figures.ddpm_alpha_bar_error(800, T=0.98),
    )
    assert 6.0 < coarse / fine < 10.0  # first order: ratio 8 for 8 times the steps


def test_exact_cld_reversal_keeps_the_marginals_and_the_paper_sampler_does_not():
    paths = gaussian.cld_generative_covariances(gamma=3.0, T=14.0, data_var=0.25, steps=2000)
    np.testing.assert_allclose(paths["exact"], paths["target"], rtol=1e-5, atol=1e-7)
    paper_var = paths["paper"][-1, 0, 0]
    assert abs(paper_var - 0.25) > 0.5  # biased by far more than any step-size error
    assert paths["misplaced"][-1, 0, 0] > 1e10  # position score in the momentum slot diverges
    # the paper's sampler in course_lib.solvers, with the exact position score, agrees
    sampled = gaussian.paper_cld_sampler_variance(steps=1000, n_samples=4000)
    assert sampled == pytest.approx(paper_var, abs=0.08)


def test_ve_euler_in_t_collapses_the_variance_while_heun_and_em_converge():
    values = gaussian.solver_variances("ve", (20, 200))
    assert float(values["target"]) == pytest.approx(0.25, rel=1e-3)
    assert values["euler"][0] < 0.05  # N = 20: almost all variance lost
    assert values["euler"][1] < 0.9 * 0.25  # N = 200: still 10% short
    assert values["heun"][1] == pytest.approx(0.25, rel=0.02)
    assert values["em"][1] == pytest.approx(0.25, rel=0.03)


def test_observed_orders_of_the_vp_samplers():
    steps = (16, 32, 64, 128)
    errors = gaussian.convergence_errors("vp", steps)
    assert 0.8 <= toy.convergence_order(steps, errors["euler"]) <= 1.2
    assert 1.8 <= toy.convergence_order(steps, errors["heun"]) <= 2.2
    assert 0.8 <= toy.convergence_order(steps, errors["em"]) <= 1.2


def test_gaussian_variances_are_the_moments_of_the_library_steps():
    """The exact variances of analysis.gaussian are solvers.moments of the library's own steps:
    on N(0, 0.5^2) a Monte-Carlo run of the sampler from the true marginal at T agrees."""
    sde, target = sdes.get("vp"), toy.gaussian_1d(0.5)
    v_start = float(target.position_marginal(sde, sde.T)[1][0, 0])
    start = (v_start**0.5) * torch.randn((20_000, 1), generator=torch.Generator().manual_seed(3))
    for solver in ("heun", "em"):
        exact = gaussian.solver_variances("vp", (8,), solvers_used=(solver,))[solver][0]
        x = solvers.sample(
            sde,
            target.score_fn(sde),
            (20_000, 1),
            solver=solver,
            steps=8,
            x_init=start.double(),
            denoise_final=False,
            grid="uniform",
            generator=torch.Generator().manual_seed(4),
        )
        assert float(x.var()) == pytest.approx(exact, rel=0.04), solver


def test_two_mode_toy_paper_cld_is_biased_and_cld_hsm_is_not():
    paper = sample_toy(SamplerSpec("paper", "cld", "em"), 1000, n_samples=2000)
    correct = sample_toy(SamplerSpec("cld-hsm", "cld-hsm", "sscs"), 100, n_samples=2000)
    assert toy.w1_to_reference(correct) < 0.06
    assert toy.w1_to_reference(paper) > 0.2
    fig = reverse.two_mode_samples_figure({"paper": paper, "cld-hsm": correct})
    assert np.isfinite(fig.axes[0].lines[0].get_ydata()).all()  # the data density is drawn


@pytest.mark.parametrize("builder", calculus.BUILDERS, ids=lambda b: b.__name__)
def test_float_readouts_tell_neighbouring_steps_apart(builder):
    """A readout with fewer decimals than the step shows 0.9946 and 0.9926 both as "0.99"."""
    app = builder()
    for name, control in app.controls.items():
        if type(control) is widgets.FloatSlider:
            decimals = int(control.readout_format.strip(".f"))
            a = control.value
            b = a + control.step
            assert f"{a:.{decimals}f}" != f"{b:.{decimals}f}", (builder.__name__, name)


def test_a_widget_without_a_kernel_shows_its_current_figure():
    """The book and other static pages get the figure as an embedded PNG beside the live widget."""
    bundle = calculus.ou_widget()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    assert html.startswith('<figure class="course-widget-static">')
    assert "data:image/png;base64," in html and "Ornstein-Uhlenbeck" in html

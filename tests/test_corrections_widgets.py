"""Notebook 10: every slider at its minimum, middle and maximum, and the numbers behind each pure
function (exact-score samplers against their targets, preconditioning closed forms, a policy's chunks);
the corrected table is tested in test_tables.py."""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest
import torch
from builders import make_policy

from course_lib import toy
from course_lib.analysis import chunks
from course_lib.analysis import corrections as ex
from course_lib.nets import DECODER_SIZES
from course_lib.plots import corrections as fc
from course_lib.pusht.observations import keypoint_obs
from course_lib.widgets import corrections as wc

matplotlib.use("Agg")
torch.set_num_threads(1)

SMALL = 300  # Monte-Carlo size for the widget sweeps: they test that every setting draws


def _control_values(control: widgets.ValueWidget) -> list:
    if isinstance(control, widgets.Dropdown):
        return list(control.options)
    middle = (control.min + control.max) / 2
    if isinstance(control, widgets.IntSlider):
        middle = int(round(middle))
    return [control.min, middle, control.max]


@pytest.mark.parametrize("builder", wc.BUILDERS, ids=lambda b: b.__name__)
def test_every_control_at_its_extremes_draws_a_figure(builder):
    app = builder(n_samples=SMALL)
    assert app.last_error is None, f"{builder.__name__} failed at its defaults: {app.last_error}"
    for name, control in app.controls.items():
        for value in _control_values(control):
            figure = app.run(**{name: value})
            assert isinstance(figure, matplotlib.figure.Figure), (name, value)
            assert figure.axes, f"{builder.__name__}({name}={value}) drew no axes"


def test_bad_arguments_name_the_valid_choices():
    with pytest.raises(ValueError, match="valid targets"):
        toy.preset("three-mode")
    with pytest.raises(ValueError, match="valid grids"):
        ex.ve_sampler_metrics(10, "cosine", "heun", n_samples=10)
    with pytest.raises(ValueError, match="valid solvers"):
        ex.cld_sampler_runs(10, paper_solver="heun", n_samples=10)
    with pytest.raises(ValueError, match="sigma_data must be a positive"):
        ex.preconditioning_scales(sigma_data=0.0)


# ------------------------------------------------------------------------------------ VE


def test_paper_euler_collapses_and_edm_heun_at_35_steps_hits_the_variance():
    paper, edm = ex.VE_LADDER[0], ex.VE_LADDER[-1]
    assert ex.ve_output_variance(paper, 20) < 0.1 * 0.25  # MATH_NOTES: 0.013 at N = 20
    assert abs(ex.ve_output_variance(edm, 35) / 0.25 - 1) < 0.03


def test_every_step_of_the_ladder_beats_the_paper_euler_at_twenty_steps():
    values = ex.ve_ladder_variances([20])
    errors = {k: abs(float(v[0]) / 0.25 - 1) for k, v in values.items() if k != "target"}
    paper = errors.pop(ex.VE_LADDER[0].label)
    assert paper > 0.9
    assert all(error < paper for error in errors.values()), errors


def test_preconditioning_matches_its_closed_forms():
    sd = 0.5
    sigma = np.array([0.01, sd, 50.0])
    c = ex.edm_preconditioning_coefficients(sigma, sd)
    np.testing.assert_allclose(c["c_skip"], sd**2 / (sigma**2 + sd**2), rtol=1e-12)
    np.testing.assert_allclose(c["c_skip"] + c["c_out"] ** 2 / sd**2, 1.0, rtol=1e-12)
    np.testing.assert_allclose(c["c_in"][1], 1 / (sd * math.sqrt(2)), rtol=1e-12)
    np.testing.assert_allclose(c["c_noise"], np.log(sigma) / 4, rtol=1e-12)


def test_edm_network_sees_unit_scales_and_the_paper_ve_does_not():
    sigmas = [0.01, 0.1, 1.0, 10.0, 50.0]
    edm = ex.network_scales("ve-edm", sigmas, n_samples=4000)
    np.testing.assert_allclose(edm["input_std"], 1.0, rtol=0.05)
    np.testing.assert_allclose(edm["target_std"], 1.0, rtol=0.05)
    paper = ex.network_scales("ve", sigmas, n_samples=4000)
    np.testing.assert_allclose(paper["target_std"] * np.array(sigmas), 1.0, rtol=0.05)
    assert paper["input_std"][-1] / paper["input_std"][0] > 50


def test_ve_sampler_metrics_separate_the_two_processes():
    collapsed = ex.ve_sampler_metrics(10, "uniform", "euler", n_samples=2000)
    assert collapsed["ve"]["variance_ratio"] < 0.2 and collapsed["ve"]["w1"] > 0.3
    edm = ex.ve_sampler_metrics(35, "edm", "heun", n_samples=2000)
    assert edm["ve-edm"]["variance_error"] < 0.06 and edm["ve-edm"]["w1"] < 0.05


def test_a_vp_edm_network_read_as_ve_edm_gives_the_same_denoiser():
    """D from the VP-EDM policy at (m x, t_vp(sigma)) equals D from its VE-EDM reading at
    (x, t_ve(sigma)): Tweedie's x_0 estimate (x + s^2 score)/m of both scores."""
    vp = make_policy("vp-edm")
    with torch.no_grad():  # an untrained network outputs ~0: move it off the trivial denoiser
        for param in vp.decoder.parameters():
            param.add_(0.05 * torch.randn_like(param))
    ve = ex.vp_edm_as_ve_edm(vp)
    assert ve.cfg.sde == "ve-edm" and (ve.cfg.solver, ve.cfg.steps) == ve.sde.default_sampler
    assert ve.sde.sigma_data == vp.sde.sigma_data
    gen = torch.Generator().manual_seed(0)
    cond = torch.randn(6, DECODER_SIZES[vp.cfg.decoder].cond_dim, generator=gen)
    x = torch.randn(6, vp.cfg.horizon, 2, generator=gen)
    sigma = torch.tensor([0.02, 0.1, 0.5, 1.0, 5.0, 40.0], dtype=torch.float64)
    t_vp, t_ve = vp.sde.time_of_noise_level(sigma), ve.sde.time_of_noise_level(sigma)
    t_vp, t_ve = t_vp.float(), t_ve.float()
    m = vp.sde.mean_coeff(t_vp)[:, None, None]
    with torch.no_grad():
        d_vp = vp.sde.x0_from_score(m * x, vp.score_fn(cond)(m * x, t_vp), t_vp)
        d_ve = ve.sde.x0_from_score(x, ve.score_fn(cond)(x, t_ve), t_ve)
    assert float(d_vp.abs().max()) > 0.1  # not the zero network
    torch.testing.assert_close(d_vp, d_ve, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="only a 'vp-edm' policy"):
        ex.vp_edm_as_ve_edm(make_policy("ve-edm"))


# ------------------------------------------------------------------------------------ CLD


def test_paper_cld_stays_biased_while_the_exact_reversal_converges():
    paper_euler, paper_em, euler_t, exp_euler, _, em, sscs = ex.CLD_SPECS
    chosen = (paper_euler, paper_em, euler_t, exp_euler, em, sscs)
    results = ex.cld_convergence([20, 200], chosen, n_samples=2000)
    # the paper's samplers are biased in the limit: N = 1000 and 3000 both give W1 0.12 and 0.31
    assert results[paper_euler.label]["w1"][-1] > 0.08
    assert (
        results[paper_em.label]["w1"][-1] > 0.2
        and results[paper_em.label]["variance_ratio"][-1] > 1.3
    )
    assert abs(results[sscs.label]["variance_ratio"][-1] - 1) < 0.1
    assert results[sscs.label]["w1"][-1] < 0.06
    assert results[sscs.label]["w1"][0] < results[em.label]["w1"][0]  # SSCS wins at few steps
    # at N = 20 the exponential Euler step is close to the data, the Euler step in t far from it
    assert results[exp_euler.label]["w1"][0] < 0.1 < 0.5 < results[euler_t.label]["w1"][0]


def test_cld_time_laws_put_the_log_normal_share_in_edms_band():
    laws = ex.cld_time_laws(20_000)
    band = {law: float(np.mean(np.abs(v + 1.2) < 2.4)) for law, v in laws.items()}
    # N(-1.2, 1.2^2) within 2 std: 95.4%; measured 47% (w^2) and 34% (uniform)
    assert band["lognormal"] == pytest.approx(0.954, abs=0.01)
    assert 0.40 < band["sqrt"] < 0.55 and 0.28 < band["uniform"] < 0.40
    fig = fc.cld_time_laws_figure(laws)
    assert len(fig.axes) == 2 and len(fig.axes[1].patches) >= 3


# ------------------------------------------------------------------------------------ PushT


def test_demo_chunks_have_the_chunk_shape_for_every_solver():
    state = np.array([200.0, 150.0, 300.0, 300.0, 0.7])
    history = np.stack([keypoint_obs(state)] * 2)
    by_model = {}
    for name, solver_steps in (("ve-edm", {"heun": 3}), ("cld-hsm", {"sscs": 2, "em": 2})):
        results = chunks.demo_chunks(make_policy(name), history, solver_steps, n_samples=2)
        assert [r.solver for r in results] == list(solver_steps)
        assert all(r.chunks.shape == (2, 16, 2) and np.isfinite(r.chunks).all() for r in results)
        by_model[name] = results
    assert len(fc.demo_chunks_figure(state, by_model).axes) == 2


def test_chunk_statistics_vanish_on_the_demonstration_and_on_straight_paths():
    line = np.stack([np.linspace(100.0, 200.0, 16), np.linspace(50.0, 80.0, 16)], axis=-1)
    same = chunks.DemoChunks("euler", 1, np.stack([line, line]), 0.0)
    assert chunks.chunk_statistics(same, line) == pytest.approx(
        {"rms_px": 0.0, "roughness_px": 0.0}
    )
    shifted = chunks.DemoChunks("euler", 1, (line + [3.0, 4.0])[None], 0.0)
    assert chunks.chunk_statistics(shifted, line)["rms_px"] == pytest.approx(5.0)
    bent = line.copy()
    bent[8] += [0.0, 10.0]  # one kink: second differences 10, 20, 10 px at k = 7, 8, 9
    stats = chunks.chunk_statistics(chunks.DemoChunks("em", 1, bent[None], 0.0), line)
    assert stats["roughness_px"] == pytest.approx(40.0 / 14)

"""Notebooks 07-09: the sampling widget at every control extreme with the shipped models, and the
data behind the pure figure functions (loss levels, chunk paths, spread, rollouts)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from builders import make_policy  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import course_lib  # noqa: E402
from course_lib import sdes  # noqa: E402
from course_lib.analysis import chunks  # noqa: E402
from course_lib.data import load_pusht, make_windows  # noqa: E402
from course_lib.evaluate import Rollout, evaluate  # noqa: E402
from course_lib.plots import policy as pp  # noqa: E402
from course_lib.pusht import TEST_SEEDS, coverage  # noqa: E402
from course_lib.pusht.geometry import reward_from_coverage  # noqa: E402
from course_lib.widgets import CallbackError  # noqa: E402
from course_lib.widgets import policy as pw  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def demo_frame():
    """Observation history, state and recorded chunk of one demonstration frame."""
    demos = load_pusht()
    windows = make_windows(demos, [3])
    i = 30
    state = demos.states[int(windows.frame[i])].astype(np.float64)
    return windows.obs[i].numpy(), state, windows.action[i].numpy()


@pytest.fixture(scope="module")
def policies():
    return {name: course_lib.pretrained(name) for name in pw.SHIPPED_MODELS}


@pytest.fixture(scope="module")
def app(demo_frame, policies):
    hist, state, chunk = demo_frame
    return pw.sampling_app(hist, state, demo_chunk=chunk, n_samples=4, loader=policies.__getitem__)


# ------------------------------------------------------------------------------ the widget


def test_sampling_app_runs_at_every_control_extreme(app):
    assert app.last_error is None
    app.controls["solver"].value, app.controls["steps"].value = "euler", 10  # cheap base values
    for name, control in app.controls.items():
        if hasattr(control, "options"):
            values = list(control.options)
        else:
            lo, hi = control.min, control.max
            values = [lo, (lo + hi) // 2, hi]
        for value in values:
            assert isinstance(app.run(**{name: value}), Figure), (name, value)
    assert app.controls["steps"].min == 1 and app.controls["steps"].max == pw.MAX_STEPS


def test_index_is_clamped_to_the_path(app):
    fig = app.run(sde="vp", solver="euler", steps=3, index=pw.MAX_STEPS)
    assert "index 3/3" in fig.axes[0].get_title()


def test_a_solver_the_sde_lacks_is_explained(app):
    fig = app.run(sde="cld", solver="heun", steps=4, index=0)
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "not part of the paper's CLD sampler" in text and "('euler', 'em')" in text
    fig = app.run(sde="vp", solver="sscs", steps=4, index=0)
    assert "valid solvers for 'vp'" in " ".join(t.get_text() for t in fig.axes[0].texts)
    with pytest.raises(CallbackError, match="unknown model"):
        app.run(sde="nope")


def test_controls_follow_the_chosen_sde(demo_frame, policies):
    hist, state, _ = demo_frame
    app = pw.sampling_app(
        hist, state, names=("vp", "cld"), n_samples=2, loader=policies.__getitem__
    )
    before = app.n_redraws
    app.controls["steps"].value = 12
    assert app.controls["index"].max == 12 and app.controls["index"].value == 12
    assert app.n_redraws == before + 1, "the index following N must not redraw again"
    app.controls["sde"].value = "cld"
    assert app.n_redraws == before + 2, "solver, steps and index follow the SDE in one redraw"
    cfg = policies["cld"].cfg
    assert tuple(app.controls["solver"].options) == policies["cld"].sde.solvers
    assert app.controls["solver"].value == cfg.solver
    assert app.controls["steps"].value == cfg.steps == app.controls["index"].max
    assert app.last_error is None


# ------------------------------------------------------------------------------ chunk paths

SAMPLERS = {
    "vp": "heun",
    "ve": "em",
    "cld": "em",
    "cld-hsm": "sscs",
    "ve-edm": "euler",
    "vp-edm": "heun",
}


@pytest.mark.parametrize("name", pw.SHIPPED_MODELS)
def test_trajectories_start_at_the_prior_draw_and_end_where_act_ends(name, policies, demo_frame):
    policy, hist = policies[name], demo_frame[0]
    solver, steps, n, seed = SAMPLERS[name], 4, 3, 7
    traj = chunks.sample_chunk_trajectories(
        policy, hist, solver=solver, steps=steps, n_samples=n, seed=seed
    )
    assert traj.positions.shape == (steps + 1, n, policy.cfg.horizon, 2)
    assert traj.times.shape == (steps + 1,) and traj.times[0] == pytest.approx(policy.sde.T)
    assert np.all(np.diff(traj.times) <= 0)

    acted = policy.act(
        np.repeat(hist[None], n, axis=0),
        solver=solver,
        steps=steps,
        generator=torch.Generator().manual_seed(seed),
    )
    np.testing.assert_allclose(traj.final, acted, rtol=1e-5, atol=1e-3)

    prior = policy.sde.prior_sample(
        (n, policy.cfg.horizon, 2), generator=torch.Generator().manual_seed(seed)
    )
    start = policy.action_normalizer.unnormalize(policy.sde.positions(prior)).numpy()
    np.testing.assert_allclose(traj.positions[0], start, rtol=1e-5, atol=1e-3)


def test_spread_is_the_rms_distance_from_the_mean_chunk():
    positions = np.zeros((2, 2, 3, 2))
    positions[1, 0, :, 0], positions[1, 1, :, 0] = 5.0, -5.0  # two samples 10 px apart
    traj = chunks.ChunkTrajectories("vp", "euler", 1, np.array([1.0, 0.0]), positions, False)
    np.testing.assert_allclose(traj.spread(), [0.0, 5.0])


def test_reverse_chunks_figure_draws_the_chunks_of_the_chosen_index(policies, demo_frame):
    hist, state, chunk = demo_frame
    traj = chunks.sample_chunk_trajectories(policies["vp"], hist, steps=6, n_samples=3)
    fig = pp.reverse_chunks_figure(traj, state, index=4, demo_chunk=chunk)
    bold = [line for line in fig.axes[0].lines if line.get_marker() == "o" and line.get_lw() > 1.5]
    assert len(bold) == 3
    for line, expected in zip(bold, traj.positions[4], strict=True):
        np.testing.assert_allclose(np.c_[line.get_xdata(), line.get_ydata()], expected)
    dashed = [line for line in fig.axes[0].lines if line.get_linestyle() == "--"]
    np.testing.assert_allclose(dashed[-1].get_xydata(), chunk)
    with pytest.raises(ValueError, match="index must be in"):
        pp.reverse_chunks_figure(traj, state, index=7)


def test_chunk_functions_refuse_other_policies(policies, demo_frame):
    with pytest.raises(ValueError, match="one observation history"):
        chunks.sample_chunk_trajectories(policies["vp"], np.zeros((2, 2, 20)))
    delta = make_policy("vp", action_kind="delta")
    with pytest.raises(ValueError, match="absolute actions"):
        chunks.sample_chunk_trajectories(delta, demo_frame[0])


def test_spread_and_latency_agree_with_the_sampled_paths(policies, demo_frame):
    hist, _, chunk = demo_frame
    policy = policies["ve-edm"]
    rows = chunks.spread_and_latency(
        policy, hist, [("euler", 3), ("heun", 3)], n_samples=5, seed=2, repeats=1, demo_chunk=chunk
    )
    assert [(r["solver"], r["steps"]) for r in rows] == [("euler", 3), ("heun", 3)]
    for row in rows:
        traj = chunks.sample_chunk_trajectories(
            policy, hist, solver=row["solver"], steps=3, n_samples=5, seed=2
        )
        assert row["spread_px"] == pytest.approx(traj.spread()[-1], rel=1e-4)
        gap = np.linalg.norm(traj.final - chunk[None], axis=-1).mean()
        assert row["demo_error_px"] == pytest.approx(gap, rel=1e-4)
        assert row["latency_ms"] > 0
    fig = pp.spread_latency_figure(rows)
    plotted = [line.get_ydata()[0] for line in fig.axes[0].lines[: len(rows)]]
    assert plotted == [r["spread_px"] for r in rows]  # one line per solver, a single N each


# ------------------------------------------------------------------------------ loss levels


def _exact_gaussian_net(sde, variances: torch.Tensor, kind: str, generator):
    """A network for ``sde.loss``: exact score of N(0, diag(variances)) data, zero, or noise."""

    def net(x_in, c_noise):
        x = x_in[..., : variances.numel()]
        if kind == "zero":
            return torch.zeros_like(x)
        if kind == "unit":
            return torch.randn(x.shape, generator=generator, dtype=x.dtype)
        m, s = sde.mean_coeff(c_noise[0].item()), sde.std(c_noise[0].item())
        score = -x / (m**2 * variances + s**2)
        return sde.output_from_score(score, x, c_noise)

    return net


@pytest.mark.parametrize("name", chunks.LOSS_LEVEL_SDES)
def test_loss_levels_match_the_losses_of_exact_zero_and_noise_networks(name):
    sde = sdes.get(name)
    variances = torch.tensor([0.02, 0.1, 0.3, 1.0], dtype=torch.float64)
    times = np.array([0.05, 0.3, 0.7]) * sde.T
    levels = chunks.loss_levels(sde, variances.numpy(), times)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn((100_000, 4), generator=gen, dtype=torch.float64) * variances.sqrt()
    for kind in ("perfect", "zero", "unit"):
        net = _exact_gaussian_net(sde, variances, kind, gen)
        got = [float(sde.loss(net, x0, generator=gen, t=float(t)).mean()) for t in times]
        np.testing.assert_allclose(got, levels[kind], rtol=0.02, err_msg=kind)
    assert np.all(levels["perfect"] < 1.0)
    if name != "vp":  # the sigma^2 weight makes an untrained score network costly at large t
        assert levels["unit"][-1] > 5 * levels["zero"][-1]


def test_loss_levels_refuse_the_corrected_processes():
    with pytest.raises(ValueError, match="paper's objectives"):
        chunks.loss_levels(sdes.get("cld-hsm"), np.ones(3), np.array([0.5]))


def test_loss_by_time_of_a_zero_output_network_is_the_zero_level():
    policy = make_policy("ve")  # the DiT's output layer starts at zero
    gen = torch.Generator().manual_seed(1)
    obs = {"obs": torch.rand((2048, 2, 20), generator=gen) * 2 - 1}
    actions = torch.rand((2048, 16, 2), generator=gen) * 2 - 1
    values = chunks.loss_by_time(policy, obs, actions, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(values, 1.0, rtol=0.03)  # E|eps|^2 = 1; 65536 draws, sd 0.006
    fig = pp.loss_levels_figure(
        {
            "ve": (
                np.array([0.1, 0.5, 0.9]),
                chunks.loss_levels(policy.sde, np.ones(2), [0.1, 0.5, 0.9]),
            )
        },
        {"ve": (np.array([0.1, 0.5, 0.9]), values)},
    )
    np.testing.assert_allclose(fig.axes[0].lines[-1].get_ydata(), values)


def test_live_loss_figure_plots_every_step_and_the_validation_points():
    fig = pp.live_loss_figure(
        {"vp": [1.0, 0.5, 0.4], "ve": [1.0, 0.9, 0.8]},
        {"vp": [{"step": 3, "val_loss": 0.45}], "ve": [{"step": 3, "val_loss": float("nan")}]},
    )
    lines = fig.axes[0].lines
    np.testing.assert_allclose(lines[0].get_ydata(), [1.0, 0.5, 0.4])
    assert len(lines) == 3  # the NaN validation point of VE is left out


# ------------------------------------------------------------------------------ rollouts


def test_record_rollout_follows_the_evaluation_protocol(policies):
    policy, seed, max_steps = policies["vp"], TEST_SEEDS[0], 12
    result = evaluate(
        policy, [seed], max_steps=max_steps, sample_seed=3, progress=False, record=True
    )
    (rollout,) = result.rollouts
    assert rollout.name == policy.cfg.sde and rollout.seed == seed
    assert rollout.score == pytest.approx(result["episode_scores"][0])
    assert coverage(rollout.states[-1]) == pytest.approx(result["episode_final_coverage"][0])
    n = len(rollout.targets)
    assert rollout.states.shape == (n + 1, 5) and n <= max_steps
    assert [start for start, _ in rollout.plans] == list(range(0, n, policy.cfg.n_action_steps))
    first = rollout.plans[0][1][: policy.cfg.n_action_steps]
    np.testing.assert_allclose(rollout.targets[: len(first)], np.clip(first, 0, 512)[:n])
    expected = [float(reward_from_coverage(coverage(s))) for s in rollout.states[1:]]
    np.testing.assert_allclose(rollout.rewards, expected)


def _still_rollout(name: str, n_steps: int) -> Rollout:
    state = np.array([100.0, 100.0, 256.0, 300.0, 0.5])
    chunk = np.linspace([100.0, 100.0], [200.0, 200.0], 16)
    return Rollout(
        name,
        0,
        np.repeat(state[None], n_steps + 1, axis=0),
        chunk[np.arange(n_steps) % 8],
        np.linspace(0.0, 0.5, n_steps),
        [(k, chunk) for k in range(0, n_steps, 8)],
    )


def test_rollout_animation_holds_finished_episodes():
    short, long = _still_rollout("short", 5), _still_rollout("long", 11)
    anim = pp.rollout_animation([short, long], every=4, size=32)
    assert list(anim.new_frame_seq()) == [0, 4, 8, 11]
    anim._func(11)
    titles = [ax.get_title() for ax in anim._fig.axes]
    assert "step 5 (ended)" in titles[0] and "step 11\n" in titles[1]
    assert f"score {short.rewards.max():.2f}" in titles[0]
    todo = anim._fig.axes[1].lines[1]  # the chunk still to execute at step 11 (plan of step 8)
    np.testing.assert_allclose(todo.get_xydata(), long.plans[1][1][3:])
    html = pp.animation_html(anim)
    assert html.count("data:image/jpeg;base64") == 4  # one embedded JPEG per frame
    assert "font-awesome" not in html and not re.search(r"(src|href)=\"(https?:)?//", html)
    assert 'class="fa' not in html and "&#x25B6;" in html  # play button as a glyph
    with pytest.raises(ValueError, match="at least one rollout"):
        pp.rollout_animation([])

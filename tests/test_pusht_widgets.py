"""Notebook 06's widgets and figures: callbacks at slider extremes, and the pushing game."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_lib.data import episode_statistics, load_pusht  # noqa: E402
from course_lib.plots import pusht as pplots  # noqa: E402
from course_lib.pusht import PushTEnv, coverage  # noqa: E402
from course_lib.pusht import constants as C  # noqa: E402
from course_lib.widgets import pusht as pwidgets  # noqa: E402


@pytest.fixture(scope="module")
def demos():
    return load_pusht()


def extremes(app):
    """Every control at its minimum, middle and maximum (others at their current values)."""
    for name, control in app.controls.items():
        lo, hi = control.min, control.max
        mid = (lo + hi) // 2 if isinstance(lo, int) else (lo + hi) / 2
        for value in (lo, mid, hi):
            yield name, value


def test_replay_app_runs_at_slider_extremes(demos):
    app = pwidgets.replay_app(demos)
    assert app.last_error is None
    for name, value in extremes(app):
        assert isinstance(app.run(**{name: value}), Figure)
    assert app.controls["episode"].max == 205
    assert app.controls["frame"].max == demos.episode_lengths().max() - 1


def test_demo_frame_clamps_to_the_last_frame(demos):
    fig = pwidgets.demo_frame(demos, 0, 10_000)
    last = demos.episode_lengths()[0] - 1
    assert f"frame {last}/{last}" in fig.axes[0].get_title()


def test_coverage_app_runs_at_slider_extremes_and_reads_one_at_the_goal():
    app = pwidgets.coverage_app()
    for name, value in extremes(app):
        assert isinstance(app.run(**{name: value}), Figure)
    title = app.run(dx=0.0, dy=0.0, dtheta_deg=0.0).axes[0].get_title()
    assert "coverage 1.000" in title
    far = pwidgets.goal_offset_state(60.0, 60.0, 90.0)
    expected = f"coverage {coverage(far):.3f}"
    assert expected in app.run(dx=60.0, dy=60.0, dtheta_deg=90.0).axes[0].get_title()
    assert coverage(far) < 0.5


def test_push_game_buttons_move_the_agent_and_reset_restores_the_start():
    game = pwidgets.PushGame(seed=C.TEST_SEEDS[0], step_px=25.0, steps_per_press=3)
    start = PushTEnv().reset(seed=C.TEST_SEEDS[0])[0]
    np.testing.assert_array_equal(game.env.state, start)
    right = next(b for b in game.children[0].children if b.description == "→")
    right.click()
    assert game.last_error is None and game.n_steps == 3
    moved = game.env.state[0] - start[0]
    # 0.3 s of critically damped approach covers 1 - 4 e^-3 = 80 % of the 25 px.
    assert 15.0 < moved < 25.0
    assert game.env.state[1] == pytest.approx(start[1], abs=1e-6)
    game.target_x.value, game.target_y.value = 100.0, 450.0
    before = np.linalg.norm(game.env.state[:2] - [100.0, 450.0])
    assert isinstance(game.go(), Figure)
    assert np.linalg.norm(game.env.state[:2] - [100.0, 450.0]) < before
    reset = next(b for b in game.children[0].children if b.description == "reset")
    reset.click()
    assert game.n_steps == 0
    np.testing.assert_array_equal(game.env.state, start)


def test_figures_of_the_notebook(demos):
    state = demos.states[100].astype(np.float64)
    assert len(pplots.scene_figure(state, demos.actions[100]).axes) == 2
    fig = pplots.pd_response_figure(target=(356.0, 256.0), n_steps=12)
    simulated = fig.axes[0].lines[1].get_ydata()
    # Semi-implicit Euler of the PD law: v += (K_P (x* - x) - K_V v) dt, then x += v dt.
    x, v, discrete = 256.0, 0.0, [256.0]
    for _ in range(12 * C.N_SUBSTEPS):
        v += (C.K_P * (356.0 - x) - C.K_V * v) * C.DT
        x += v * C.DT
        discrete.append(x)
    np.testing.assert_allclose(simulated, discrete[:: C.N_SUBSTEPS], atol=1e-6)
    # ... which stays within a few pixels of the continuous critically damped closed form.
    times = np.arange(13) / C.CONTROL_HZ
    closed = 356.0 - 100.0 * (1 + 10 * times) * np.exp(-10 * times)
    np.testing.assert_allclose(simulated, closed, atol=4.0)
    small = demos.subset([0, 1])
    stats = episode_statistics(small)
    assert stats["length"].tolist() == small.episode_lengths().tolist()
    assert np.all((stats["final_coverage"] > 0.8) & (stats["max_reward"] <= 1.0))
    assert len(pplots.demo_statistics_figure(stats).axes) == 3
    pixels = np.zeros((96, 96, 3), np.uint8)
    assert len(pplots.observations_figure(state, pixels, pixels[:84, :84]).axes) == 3

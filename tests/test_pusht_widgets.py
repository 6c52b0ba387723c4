"""Notebook 06's widgets and figures: callbacks at slider extremes, and the pushing game."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_lib.data import episode_statistics, load_pusht  # noqa: E402
from course_lib.plots import pusht as pplots  # noqa: E402
from course_lib.pusht import PushTEnv, coverage, legacy_reset_state  # noqa: E402
from course_lib.pusht import constants as C  # noqa: E402
from course_lib.pusht.replay import replay  # noqa: E402
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


def _pointer(world_xy, shown_px=384.0):
    """The ipyevents mousemove event of a pointer over the scene shown ``shown_px`` wide."""
    x, y = np.asarray(world_xy) * shown_px / C.WORLD_SIZE
    return {"type": "mousemove", "relativeX": x, "relativeY": y, "boundingRectWidth": shown_px}


def test_mouse_game_follows_the_pointer_and_records_a_replayable_episode(tmp_path):
    store = tmp_path / "mine.zarr"
    game = pwidgets.MouseGame(seed=C.TEST_SEEDS[0], store=store, size=96)
    start = PushTEnv().reset(seed=C.TEST_SEEDS[0])[0]
    np.testing.assert_array_equal(game.env.state, start)
    path = start[:2] + np.linspace(0.0, 1.0, 12)[:, None] * np.array([80.0, -40.0])
    for point in path:
        game._on_pointer(_pointer(point))
        game.tick()
    assert game.last_error is None and len(game.recorder) == 12
    np.testing.assert_allclose(game.recorder.actions[-1], path[-1], atol=1e-3)
    assert np.linalg.norm(game.env.state[:2] - path[-1]) < 20.0  # the PD agent follows
    assert f"coverage <b>{coverage(game.env.state):.3f}</b>" in game.status.value
    assert game.scene.value[:4] == b"\x89PNG"

    stored = game.save()
    stored = game.save()  # a second save appends the same episode again
    assert stored.n_episodes == 2 and stored.n_frames == 24
    episode = stored.episode(1)
    np.testing.assert_allclose(episode["actions"], path, atol=1e-3)
    # The recorded frames replay: state t + 1 follows from state t under action t.
    replayed, contacts = replay(legacy_reset_state(C.TEST_SEEDS[0]), episode["actions"])
    np.testing.assert_allclose(episode["states"], replayed[:-1], atol=1e-3)
    np.testing.assert_array_equal(episode["n_contacts"][1:], contacts[:-1])

    game.reset()
    assert len(game.recorder) == 0
    np.testing.assert_array_equal(game.env.state, start)


def test_mouse_game_plays_at_ten_hertz_in_the_background(tmp_path):
    game = pwidgets.MouseGame(store=tmp_path / "mine.zarr", size=64)
    game._on_pointer(_pointer([300.0, 300.0]))
    game.play()
    time.sleep(1.05)
    game.stop()
    assert game.last_error is None
    assert 8 <= len(game.recorder) <= 12, len(game.recorder)  # 10 Hz, first tick at once


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

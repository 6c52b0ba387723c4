"""Coverage, keypoints and observations against closed forms, shapely and the dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Polygon

from course_lib.data import load_pusht
from course_lib.pusht import GOAL_POSE, coverage, coverage_batch, keypoints, observe
from course_lib.pusht import constants as C
from course_lib.pusht.geometry import block_polygons


def goal_state(dx_local: float = 0.0, dy_local: float = 0.0, dtheta: float = 0.0) -> np.ndarray:
    """The block at the goal, moved by (dx, dy) along the goal's own axes and turned by dtheta."""
    theta = GOAL_POSE[2]
    dx = math.cos(theta) * dx_local - math.sin(theta) * dy_local
    dy = math.sin(theta) * dx_local + math.cos(theta) * dy_local
    return np.array([50.0, 50.0, GOAL_POSE[0] + dx, GOAL_POSE[1] + dy, theta + dtheta])


def test_coverage_is_one_at_the_goal_and_zero_far_away():
    assert coverage(goal_state()) == pytest.approx(1.0, abs=1e-12)
    assert coverage(np.array([0.0, 0.0, 100.0, 100.0, 0.0])) == 0.0


@pytest.mark.parametrize("d", [0.5, 3.0, 10.0, 25.0])
def test_coverage_under_a_slide_along_either_axis_of_the_t(d):
    # Sliding the T by d < 30 px along its bar or its stem uncovers 120 d px^2 of the 6300.
    expected = 1.0 - 120.0 * d / C.GOAL_AREA
    assert coverage(goal_state(dx_local=d)) == pytest.approx(expected, abs=1e-9)
    assert coverage(goal_state(dy_local=d)) == pytest.approx(expected, abs=1e-9)


def test_coverage_of_a_half_turn_about_the_origin():
    # Turned by pi about its origin (the middle of the bar's top edge) the T flips across that edge:
    # the two shapes share a segment, no area.
    assert coverage(goal_state(dtheta=math.pi)) == pytest.approx(0.0, abs=1e-9)


def test_coverage_matches_shapely_multipolygons_and_the_batch_variant():
    rng = np.random.default_rng(0)
    states = np.column_stack(
        [
            rng.uniform(0, 512, (200, 2)),
            rng.normal(256, 25, (200, 2)),
            rng.uniform(0, 2 * math.pi, 200),
        ]
    )
    goal = MultiPolygon([Polygon(box) for box in block_polygons(np.asarray(GOAL_POSE))])
    reference = np.array(
        [
            goal.buffer(0)
            .intersection(MultiPolygon([Polygon(b) for b in block_polygons(s[2:5])]).buffer(0))
            .area
            / goal.area
            for s in states
        ]
    )
    batch = coverage_batch(states)
    np.testing.assert_allclose(batch, reference, atol=1e-9)
    assert np.ptp(batch) > 0.5  # the sample spans a real range of coverages
    assert [coverage(s) for s in states[:10]] == pytest.approx(batch[:10].tolist())


def test_coverage_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        coverage(np.zeros(4))
    with pytest.raises(ValueError, match="last dimension 5"):
        coverage_batch(np.zeros((3, 4)))


def test_block_polygons_have_the_t_area_and_rotate_about_the_origin():
    pose = np.array([100.0, 200.0, math.pi / 2])
    boxes = block_polygons(pose)
    assert sum(Polygon(b).area for b in boxes) == pytest.approx(6300.0)
    # A local point (x, y) turned by +90 degrees lands at (-y, x) from the origin.
    points = keypoints(np.array([0, 0, 100.0, 200.0, math.pi / 2]))
    assert points.shape == (9, 2)
    local = C.KEYPOINTS_LOCAL
    np.testing.assert_allclose(points, np.column_stack([100 - local[:, 1], 200 + local[:, 0]]))


def test_dataset_keypoints_equal_the_keypoint_observation():
    demos = load_pusht()
    obs = observe(demos.states, "keypoints")
    assert obs.shape == (demos.n_frames, 20) and obs.dtype == np.float32
    err = np.linalg.norm(obs[:, :18].reshape(-1, 9, 2) - demos.keypoints, axis=-1)
    assert err.max() < 2.5
    assert err.mean() < 0.01
    np.testing.assert_array_equal(obs[:, 18:], demos.states[:, :2])


def test_observe_kinds_and_shapes():
    state = goal_state()
    assert observe(state, "state") == pytest.approx(state)
    assert observe(np.stack([state, state]), "keypoints").shape == (2, 20)
    pixels = observe(state, "pixels")
    assert pixels.shape == (96, 96, 3) and pixels.dtype == np.uint8
    both = observe(np.stack([state, state]), "pixels_agent_pos")
    assert both["pixels"].shape == (2, 96, 96, 3)
    np.testing.assert_array_equal(both["agent_pos"], [[50.0, 50.0]] * 2)
    with pytest.raises(ValueError, match="'state', 'keypoints', 'pixels', 'pixels_agent_pos'"):
        observe(state, "image")
    with pytest.raises(ValueError, match=r"\(5,\) or \(n, 5\)"):
        observe(np.zeros((2, 3, 5)), "state")

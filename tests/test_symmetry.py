"""The mirror symmetry of PushT, checked against the recorded demonstrations and the simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.data import load_pusht, make_windows, split_episodes
from course_lib.data.demos import episode_start_state
from course_lib.policy import DiffusionPolicy, PolicyConfig
from course_lib.pusht import constants as C
from course_lib.pusht.geometry import block_polygons, coverage_batch, keypoints
from course_lib.pusht.replay import replay
from course_lib.pusht.reset import legacy_raw_state
from course_lib.pusht.symmetry import mirror_points, mirror_states
from course_lib.train import TrainConfig, train


@pytest.fixture(scope="module")
def demos():
    return load_pusht()


def test_the_mirror_is_an_involution_that_fixes_the_goal():
    rng = np.random.default_rng(0)
    states = np.column_stack([rng.uniform(0, 512, (20, 4)), rng.uniform(-4, 4, 20)])
    np.testing.assert_allclose(mirror_states(mirror_states(states)), states, atol=1e-12)
    goal = np.array([256.0, 400.0, *C.GOAL_POSE])
    np.testing.assert_allclose(mirror_states(goal)[2:], C.GOAL_POSE, atol=1e-12)
    # a point on the mirror line x + y = 512 stays where it is
    np.testing.assert_allclose(mirror_points(np.array([100.0, 412.0])), [100.0, 412.0])


def test_the_mirrored_block_is_the_mirror_image_of_the_block():
    """The T at (M(x, y), pi/2 - theta) covers the mirror image of the T at (x, y, theta): the
    same vertices as a set (the mirror reverses their order within each box)."""
    rng = np.random.default_rng(1)
    for pose in np.column_stack([rng.uniform(100, 400, (8, 2)), rng.uniform(-math.pi, math.pi, 8)]):
        state = np.array([0.0, 0.0, *pose])
        mirrored = block_polygons(mirror_states(state)[2:]).reshape(-1, 2)
        image = mirror_points(block_polygons(pose).reshape(-1, 2))
        assert sorted(map(tuple, mirrored.round(9))) == sorted(map(tuple, image.round(9)))


def test_coverage_is_the_same_on_every_mirrored_demonstration_frame(demos):
    states = demos.states.astype(np.float64)
    np.testing.assert_allclose(
        coverage_batch(mirror_states(states)), coverage_batch(states), atol=1e-5
    )


@pytest.mark.parametrize("episode", [0, 5, 17, 60, 120])
def test_replaying_mirrored_actions_from_the_mirrored_start_gives_the_mirrored_recording(
    demos, episode
):
    """The simulator commutes with the mirror: the mirrored targets, replayed from the mirrored
    start, visit the mirrored recorded states (episodes whose block stays clear of the walls,
    which the mirror shifts by one pixel)."""
    ep = demos.episode(episode)
    states = ep["states"].astype(np.float64)
    assert (
        np.abs(
            replay(episode_start_state(demos, episode), ep["actions"])[0][: len(states)] - states
        ).max()
        < 1e-3
    )
    mirrored = mirror_states(states)
    visited, _ = replay(legacy_raw_state(mirrored[0]), mirror_points(ep["actions"]))
    np.testing.assert_allclose(visited[: len(states), :4], mirrored[:, :4], atol=1e-3)
    np.testing.assert_allclose(
        np.angle(np.exp(1j * (visited[: len(states), 4] - mirrored[:, 4]))), 0.0, atol=1e-6
    )


def test_with_mirror_appends_each_episode_mirrored(demos):
    small = demos.subset(range(3))
    both = small.with_mirror()
    assert both.n_episodes == 6 and both.n_frames == 2 * small.n_frames
    for k in range(3):
        original, image = small.episode(k), both.episode(k + 3)
        np.testing.assert_array_equal(both.episode(k)["states"], original["states"])
        np.testing.assert_allclose(
            image["states"], mirror_states(original["states"]).astype(np.float32), atol=1e-4
        )
        np.testing.assert_allclose(image["actions"], mirror_points(original["actions"]), atol=1e-4)
    np.testing.assert_array_equal(both.keypoints[: small.n_frames], small.keypoints)
    # the dataset's 9 keypoints are not symmetric on the T: mirroring them as points would put
    # them on the block's other side, so the mirrored set recomputes them from the mirrored poses
    mirrored_points = mirror_points(small.keypoints.astype(np.float64))
    recomputed = both.keypoints[small.n_frames :].astype(np.float64)
    assert np.abs(recomputed - mirrored_points).max() > 10.0
    np.testing.assert_allclose(
        recomputed, keypoints(mirror_states(small.states.astype(np.float64))), atol=1e-3
    )


def test_training_with_mirror_fits_its_normalisers_on_both_halves(tmp_path, demos):
    small = demos.subset(range(12))
    policy_cfg = PolicyConfig(sde="vp", decoder="tiny")
    train_cfg = TrainConfig(
        steps=2, batch_size=16, warmup=1, val_every=1, ckpt_every=2, val_fraction=0.2,
        val_windows=32, device="cpu", mirror=True,
    )  # fmt: skip
    train(policy_cfg, train_cfg, tmp_path, demos=small, progress=False)
    policy = DiffusionPolicy.load(tmp_path / "policy.pt", device="cpu")
    train_ids, _ = split_episodes(small.n_episodes, 0.2, seed=0)
    both = small.with_mirror()
    windows = make_windows(both, np.concatenate([train_ids, train_ids + small.n_episodes]))
    flat = windows.action.reshape(-1, 2)
    torch.testing.assert_close(policy.action_normalizer.low, flat.min(0).values)
    torch.testing.assert_close(policy.action_normalizer.high, flat.max(0).values)
    assert not torch.equal(
        policy.action_normalizer.low,
        make_windows(small, train_ids).action.reshape(-1, 2).min(0).values,
    )


def test_mirror_must_be_a_bool():
    with pytest.raises(ValueError, match="mirror must be True or False"):
        TrainConfig(mirror=1)

"""EnvBatch: lockstep stepping, frozen finished episodes, truncation, stacking."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.pusht import GOAL_POSE, EnvBatch, PushTEnv, legacy_raw_state

AT_GOAL = np.array([60.0, 60.0, *GOAL_POSE])


def test_batch_matches_independent_environments():
    seeds = [100000, 100001, 100002]
    batch = EnvBatch(3, obs_type="keypoints")
    obs = batch.reset(seeds)
    envs = [PushTEnv(obs_type="keypoints") for _ in seeds]
    singles = [env.reset(seed=s)[0] for env, s in zip(envs, seeds, strict=True)]
    np.testing.assert_array_equal(obs, np.stack(singles))
    rng = np.random.default_rng(0)
    for _ in range(10):
        actions = rng.uniform(100, 400, (3, 2))
        obs, reward, *_ = batch.step(actions)
        for i, env in enumerate(envs):
            single_obs, single_reward, *_ = env.step(actions[i])
            np.testing.assert_array_equal(obs[i], single_obs)
            assert reward[i] == single_reward
    np.testing.assert_array_equal(batch.states(), np.stack([env.state for env in envs]))


def test_finished_environments_are_frozen():
    batch = EnvBatch(2, obs_type="state")
    starts = np.stack([legacy_raw_state(AT_GOAL), np.array([100.0, 100.0, 300.0, 300.0, 0.5])])
    batch.reset(states=starts)
    obs, reward, terminated, truncated, info = batch.step(np.array([[60.0, 60.0], [150.0, 100.0]]))
    assert terminated.tolist() == [True, False] and not truncated.any()
    assert info["done"].tolist() == [True, False] and batch.done.tolist() == [True, False]
    frozen_obs, frozen_reward = obs[0].copy(), reward[0]
    # A NaN action for a finished episode is ignored; the running one moves on.
    obs2, reward2, terminated2, _, info2 = batch.step(np.array([[np.nan, np.nan], [200.0, 100.0]]))
    np.testing.assert_array_equal(obs2[0], frozen_obs)
    assert reward2[0] == frozen_reward and terminated2[0]
    assert not np.allclose(obs2[1], obs[1])
    assert batch.n_steps.tolist() == [1, 2]
    assert batch.max_reward[0] == 1.0
    assert info2["coverage"].shape == (2,) and info2["block_pose"].shape == (2, 3)


def test_truncation_after_max_steps_and_pixel_stacking():
    batch = EnvBatch(2, obs_type="pixels_agent_pos", render_size=32, max_steps=3)
    obs = batch.reset([0, 1])
    assert obs["pixels"].shape == (2, 32, 32, 3) and obs["agent_pos"].shape == (2, 2)
    for t in range(3):
        _, _, terminated, truncated, _ = batch.step(batch.states()[:, :2])
        assert truncated.all() == (t == 2)
    assert batch.done.all() and not terminated.any()
    frames = batch.frames(64)
    assert frames.shape == (2, 64, 64, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(batch.frame(1, 64), frames[1])


def test_batch_input_checks():
    batch = EnvBatch(2)
    with pytest.raises(ValueError, match="exactly one"):
        batch.reset()
    with pytest.raises(ValueError, match="need 2"):
        batch.reset([1, 2, 3])
    batch.reset([1, 2])
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        batch.step(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="at least 1"):
        EnvBatch(0)

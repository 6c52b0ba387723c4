"""The gymnasium environment: API conformity, resets, action validation, reward and termination."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from course_lib.pusht import (
    ENV_ID,
    GOAL_POSE,
    MAX_STEPS,
    PushTEnv,
    legacy_landing_state,
    legacy_raw_state,
    legacy_reset_state,
)
from course_lib.pusht import constants as C

AT_GOAL = np.array([60.0, 60.0, *GOAL_POSE])


@pytest.mark.parametrize("obs_type", ["state", "pixels", "keypoints", "pixels_agent_pos"])
def test_gymnasium_check_env_passes(obs_type):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advice about normalised action boxes; not an error
        check_env(PushTEnv(obs_type=obs_type))


def test_unknown_obs_type_and_render_mode_are_rejected_with_the_valid_choices():
    with pytest.raises(ValueError, match="'state', 'keypoints', 'pixels', 'pixels_agent_pos'"):
        PushTEnv(obs_type="rgb")
    with pytest.raises(ValueError, match="rgb_array"):
        PushTEnv(render_mode="human")


def test_registered_with_a_300_step_limit():
    env = gym.make(ENV_ID, obs_type="keypoints")
    assert env.spec.max_episode_steps == MAX_STEPS == 300
    obs, _ = env.reset(seed=0)
    assert obs.shape == (20,)
    for t in range(MAX_STEPS):
        obs, reward, terminated, truncated, _ = env.step(obs[18:].astype(np.float64))
        assert not terminated
        assert truncated == (t == MAX_STEPS - 1)


def test_seeded_reset_is_deterministic_and_matches_diffusion_policy():
    env = PushTEnv()
    first, _ = env.reset(seed=100000)
    again, _ = PushTEnv().reset(seed=100000)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, legacy_landing_state(legacy_reset_state(100000)), atol=1e-9)
    other, _ = env.reset(seed=100001)
    assert not np.allclose(first, other)
    # Unseeded resets continue the seeded generator reproducibly.
    env.reset(seed=5)
    a = env.reset()[0]
    env.reset(seed=5)
    np.testing.assert_array_equal(env.reset()[0], a)


def test_non_legacy_reset_places_the_raw_state_exactly():
    obs, _ = PushTEnv(legacy_reset=False).reset(seed=7)
    raw = legacy_reset_state(7)
    np.testing.assert_allclose(obs[:4], raw[:4], atol=1e-9)
    assert obs[4] == pytest.approx(raw[4] % (2 * math.pi))


def test_reset_options_are_checked():
    with pytest.raises(ValueError, match="reset_to_state"):
        PushTEnv().reset(options={"state": AT_GOAL})
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        PushTEnv().reset(options={"reset_to_state": [1.0, 2.0]})


@pytest.mark.parametrize(
    "bad",
    [[np.nan, 1.0], [1.0, np.inf], [1.0, 2.0, 3.0], [[1.0, 2.0]], "left", None],
)
def test_bad_actions_raise_value_error(bad):
    env = PushTEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)


def test_targets_outside_the_world_are_clipped():
    outside, inside = PushTEnv(), PushTEnv()
    for env in (outside, inside):
        env.reset(seed=3)
    for _ in range(5):
        outside.step([-80.0, 900.0])
        inside.step([0.0, 512.0])
    np.testing.assert_array_equal(outside.state, inside.state)
    np.testing.assert_array_equal(outside.latest_action, [0.0, 512.0])


def test_reward_termination_and_info_at_the_goal():
    env = PushTEnv()
    _, info = env.reset(options={"reset_to_state": legacy_raw_state(AT_GOAL)})
    assert info["coverage"] == pytest.approx(1.0, abs=1e-6)
    obs, reward, terminated, truncated, info = env.step(AT_GOAL[:2])
    assert reward == 1.0 and terminated and not truncated
    assert info["is_success"]
    assert set(info) >= {"coverage", "is_success", "block_pose", "pos_agent", "n_contacts"}
    np.testing.assert_allclose(info["block_pose"], GOAL_POSE, atol=1e-6)
    np.testing.assert_allclose(info["pos_agent"], obs[:2])


def test_reward_is_coverage_over_095_away_from_the_goal():
    env = PushTEnv()
    shifted = AT_GOAL.copy()
    shifted[2] += 10.0
    env.reset(options={"reset_to_state": legacy_raw_state(shifted)})
    _, reward, terminated, _, info = env.step(shifted[:2])
    assert 0.5 < info["coverage"] < 0.95
    assert reward == pytest.approx(info["coverage"] / C.SUCCESS_COVERAGE)
    assert not terminated and not info["is_success"]


def test_render_gives_a_large_frame_with_the_last_action_marked():
    env = PushTEnv(obs_type="pixels")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8
    env.step([40.0, 470.0])
    marked = env.render()
    np.testing.assert_array_equal(marked[470, 40], C.ACTION_COLOR)
    assert not np.any(np.all(env.step([40.0, 470.0])[0] == C.ACTION_COLOR, axis=-1))
    assert PushTEnv(render_mode=None).render() is None

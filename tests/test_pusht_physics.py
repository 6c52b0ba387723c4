"""The PushT dynamics against the 206 recorded demonstrations and the reference's constants."""

from __future__ import annotations

import math

import numpy as np
import pymunk
import pytest

from course_lib.data import episode_start_state, load_pusht
from course_lib.pusht import PushTEnv, coverage_batch, legacy_raw_state, legacy_reset_state, replay
from course_lib.pusht import constants as C
from course_lib.pusht.physics import PushTWorld
from course_lib.pusht.reset import legacy_landing_state


@pytest.fixture(scope="module")
def demos():
    return load_pusht()


def angle_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((np.asarray(a) - np.asarray(b) + math.pi) % (2 * math.pi) - math.pi)


def test_block_moment_is_twice_the_bar_moment_about_the_origin():
    assert C.BLOCK_MOMENT == pytest.approx(2 * pymunk.moment_for_poly(1, C.BAR_VERTICES))
    # (120^2 + 30^2) / 12 about the bar's centre, plus 15^2 to move it to the origin, twice.
    assert C.BLOCK_MOMENT == pytest.approx(3000.0)
    world = PushTWorld()
    assert world.block.moment == pytest.approx(3000.0)
    assert world.block.mass == pytest.approx(1.0)


def test_centre_of_gravity_is_the_mean_of_the_box_centroids():
    world = PushTWorld()
    centroids = [shape.center_of_gravity for shape in world.block.shapes]
    mean = ((centroids[0][0] + centroids[1][0]) / 2, (centroids[0][1] + centroids[1][1]) / 2)
    assert mean == pytest.approx(C.BLOCK_CENTER_OF_GRAVITY)
    assert tuple(world.block.center_of_gravity) == pytest.approx((0.0, 45.0))


def test_space_settings_match_the_reference():
    world = PushTWorld()
    assert world.space.damping == 0.0
    assert tuple(world.space.gravity) == (0.0, 0.0)
    assert world.space.iterations == 10
    assert world.agent.body_type == pymunk.Body.KINEMATIC
    assert all(s.friction == 0 and s.elasticity == 0 for s in world.space.shapes)


def test_legacy_setter_turns_the_block_about_its_centre_of_gravity():
    raw = np.array([100.0, 100.0, 300.0, 200.0, math.pi])
    world = PushTWorld()
    world.set_state(raw, legacy=True)
    # A half turn about c = (0, 45) moves the origin by 2c = (0, 90).
    assert world.state[2:4] == pytest.approx([300.0, 290.0], abs=1e-9)
    assert world.state == pytest.approx(legacy_landing_state(raw), abs=1e-9)
    world.set_state(raw, legacy=False)
    assert world.state[2:4] == pytest.approx([300.0, 200.0], abs=1e-9)


def test_stored_state_fed_back_through_the_legacy_setter_lands_elsewhere(demos):
    first = demos.episode(0)["states"][0].astype(np.float64)
    env = PushTEnv()
    env.reset(options={"reset_to_state": first})
    assert np.linalg.norm(env.state[2:4] - first[2:4]) > 50.0  # the trap: ~90 px away
    env.reset(options={"reset_to_state": legacy_raw_state(first)})
    assert env.state[:4] == pytest.approx(first[:4], abs=1e-3)
    assert angle_gap(env.state[4], first[4]) < 1e-5


def test_every_demonstration_replays_from_its_legacy_start(demos):
    env = PushTEnv()
    worst_pos, worst_angle, agree, total, final_cov = 0.0, 0.0, 0, 0, []
    for k in range(demos.n_episodes):
        ep = demos.episode(k)
        stored = ep["states"].astype(np.float64)
        start = episode_start_state(demos, k)
        # Diffusion Policy's reset for seed k is episode k's start (true for all 206 episodes).
        assert start == pytest.approx(legacy_reset_state(k))
        env.reset(seed=k)
        assert env.state[:4] == pytest.approx(stored[0, :4], abs=1e-3)
        env.reset(options={"reset_to_state": start})
        assert env.state[:4] == pytest.approx(stored[0, :4], abs=1e-3)

        states, contacts = replay(start, ep["actions"])
        worst_pos = max(worst_pos, float(np.abs(states[:-1, :4] - stored[:, :4]).max()))
        worst_angle = max(worst_angle, float(angle_gap(states[:-1, 4], stored[:, 4]).max()))
        agree += int(np.sum(contacts[:-1] == ep["n_contacts"][1:]))
        total += len(contacts) - 1
        final_cov.append(coverage_batch(states[-1:])[0])
    assert worst_pos < 0.01
    assert worst_angle < 1e-4
    # n_contacts = ceil(points / 10) matches the stored counts on most steps (about 97%; the rest
    # are isolated one-step blips in the recording).
    assert agree / total > 0.95
    # The data README's statistics of coverage after each episode's last action.
    final_cov = np.array(final_cov)
    assert final_cov.min() == pytest.approx(0.861, abs=1e-3)
    assert np.median(final_cov) == pytest.approx(0.897, abs=1e-3)
    assert final_cov.max() == pytest.approx(0.966, abs=1e-3)
    assert int(np.sum(final_cov > C.SUCCESS_COVERAGE)) == 7


def test_env_steps_match_the_open_loop_replay(demos):
    ep = demos.episode(3)
    start = episode_start_state(demos, 3)
    states, contacts = replay(start, ep["actions"][:60])
    env = PushTEnv()
    env.reset(options={"reset_to_state": start})
    for t, action in enumerate(ep["actions"][:60]):
        _, _, _, _, info = env.step(action)
        assert info["n_contacts"] == contacts[t]
    np.testing.assert_array_equal(env.state, states[-1])


def test_pd_controller_reaches_a_held_target():
    world = PushTWorld()
    world.set_state([100.0, 100.0, 350.0, 250.0, 0.0])
    for _ in range(30):
        world.step([150.0, 120.0])
    assert world.state[:2] == pytest.approx([150.0, 120.0], abs=0.05)
    # The block was far away and did not move (damping 0, nothing pushed it).
    assert world.state[2:4] == pytest.approx([350.0, 250.0], abs=1e-9)


def test_the_moment_quirk_is_needed_to_reproduce_the_data(demos):
    # Uniform T of mass 1 about (0, 45): bar 4/7 * (1275 + 30^2), stem 3/7 * (750 + 30^2).
    assert C.PHYSICAL_BLOCK_MOMENT == pytest.approx(4 / 7 * 2175 + 3 / 7 * 1650)
    ep = demos.episode(2)
    start = episode_start_state(demos, 2)
    stored = ep["states"].astype(np.float64)
    physical, _ = replay(start, ep["actions"], block_moment=C.PHYSICAL_BLOCK_MOMENT)
    assert np.abs(physical[:-1, 2:4] - stored[:, 2:4]).max() > 10.0
    with pytest.raises(ValueError, match="positive"):
        PushTWorld(block_moment=0.0)

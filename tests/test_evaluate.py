"""Closed-loop evaluation: the protocol's bookkeeping checked against recorded demonstrations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from builders import make_policy

from course_lib import sdes
from course_lib.data import load_pusht
from course_lib.evaluate import evaluate, squared_jerk
from course_lib.policy import PolicyConfig
from course_lib.pusht import SUCCESS_COVERAGE, coverage_batch, observe


class ReplayPolicy:
    """Plays back demonstrations chunk by chunk; checks the observation history it is given."""

    def __init__(self, demos, episodes):
        self.cfg = PolicyConfig(sde="vp", horizon=16, n_action_steps=8)
        self.obs_type = "keypoints"
        self.device = torch.device("cpu")
        self.episodes = [demos.episode(e) for e in episodes]
        self.t = 0

    def act(self, history, solver=None, steps=None, generator=None):
        assert history.shape == (len(self.episodes), 2, 20)
        chunks = []
        for ep, hist in zip(self.episodes, history, strict=True):
            expected_now = observe(ep["states"][self.t], "keypoints")
            expected_before = observe(ep["states"][max(self.t - 1, 0)], "keypoints")
            np.testing.assert_allclose(hist[-1], expected_now, atol=0.05)
            np.testing.assert_allclose(hist[0], expected_before, atol=0.05)
            idx = np.clip(np.arange(self.t, self.t + 16), 0, len(ep["actions"]) - 1)
            chunks.append(ep["actions"][idx])
        self.t += 8
        return np.stack(chunks)


def test_replaying_demonstrations_scores_what_the_recordings_score():
    """Seeds k reset to episode k's start; replaying its actions must reproduce its reward."""
    demos = load_pusht()
    candidates = []
    for k in range(40):
        ep = demos.episode(k)
        cov = coverage_batch(ep["states"])
        if cov.max() < SUCCESS_COVERAGE and len(ep["actions"]) <= 200:
            candidates.append((k, cov))
        if len(candidates) == 3:
            break
    episodes = [k for k, _ in candidates]
    # the reward after action t is the coverage of stored state t + 1: stop where the record stops
    length = min(len(demos.episode(k)["actions"]) for k in episodes) - 1
    result = evaluate(
        ReplayPolicy(demos, episodes), seeds=episodes, max_steps=length, progress=False
    )
    expected = [
        np.clip(cov[1 : length + 1] / SUCCESS_COVERAGE, 0, 1).max() for _, cov in candidates
    ]
    np.testing.assert_allclose(result["episode_scores"], expected, atol=2e-3)
    assert result["mean_score"] == pytest.approx(float(np.mean(expected)), abs=2e-3)
    assert result["success_rate"] == 0.0


def test_squared_jerk_of_a_cubic_is_its_constant_third_difference():
    t = np.arange(10.0)
    targets = np.stack([t**3, 2 * t**3], axis=1)  # third differences 6 and 12
    assert squared_jerk(targets) == pytest.approx(36 + 144)
    assert squared_jerk(np.zeros((3, 2))) == 0.0
    assert squared_jerk(np.outer(t, [1.0, -2.0])) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "sde_name,solver", [(name, s) for name in sdes.NAMES for s in sdes.sde_class(name).solvers]
)
def test_evaluation_runs_for_every_sde_and_solver(sde_name, solver):
    policy = make_policy(sde_name).eval()
    result = evaluate(
        policy, seeds=[100000, 100001], solver=solver, steps=2, max_steps=12, progress=False
    )
    assert result["n_episodes"] == 2 and result["solver"] == solver
    assert 0.0 <= result["mean_score"] <= 1.0
    assert 0.0 <= result["mean_final_coverage"] <= 1.0
    assert np.isfinite(result["smoothness"]) and result["latency_ms"] > 0


def test_evaluation_is_reproducible_for_a_sample_seed():
    policy = make_policy("vp").eval()
    a = evaluate(policy, seeds=[100003], steps=2, max_steps=16, sample_seed=4, progress=False)
    b = evaluate(policy, seeds=[100003], steps=2, max_steps=16, sample_seed=4, progress=False)
    assert a["episode_scores"] == b["episode_scores"] and a["smoothness"] == b["smoothness"]


def test_the_result_reads_like_the_dict_it_was_and_records_every_episode():
    policy = make_policy("vp").eval()
    seeds = [100003, 100004]
    result = evaluate(policy, seeds, steps=2, max_steps=10, progress=False, record=True)
    as_dict = result.to_dict()
    assert json.loads(json.dumps(as_dict)) == json.loads(json.dumps(dict(result)))
    for key in ("mean_score", "success_rate", "mean_final_coverage", "score_ci", "success_ci"):
        assert result[key] == getattr(result, key) == as_dict[key]
    assert "rollouts" not in result and "gifs" not in result  # GIFs only when written
    assert result.get("latency_ms") > 0 and {**result}.keys() == as_dict.keys()
    with pytest.raises(KeyError):
        result["no such metric"]
    assert [r.seed for r in result.rollouts] == seeds
    for rollout, score in zip(result.rollouts, result["episode_scores"], strict=True):
        assert rollout.score == pytest.approx(score) and len(rollout.targets) <= 10
        assert rollout.states.shape == (len(rollout.targets) + 1, 5)
    assert evaluate(policy, seeds[:1], steps=2, max_steps=4, progress=False).rollouts is None


def test_evaluation_rejects_bad_arguments():
    policy = make_policy("vp")
    with pytest.raises(ValueError, match="seed"):
        evaluate(policy, seeds=[], progress=False)
    with pytest.raises(ValueError, match="n_action_steps"):
        evaluate(policy, seeds=[0], n_action_steps=99, progress=False)

"""Training: it learns, it resumes exactly, it stops cleanly on divergence, it writes its curves."""

from __future__ import annotations

import csv
import os
import signal

import pytest
import torch

from course_lib.data import load_pusht
from course_lib.evaluate import evaluate
from course_lib.policy import DiffusionPolicy, PolicyConfig
from course_lib.train import TrainConfig, TrainingDiverged, lr_factor, read_loss_csv, train


@pytest.fixture(scope="module")
def demos():
    return load_pusht().subset(range(12))


def _cfgs(steps: int = 10, **train_kw) -> tuple[PolicyConfig, TrainConfig]:
    policy = PolicyConfig(sde="vp", decoder="tiny")
    kw = dict(
        steps=steps,
        batch_size=32,
        lr=1e-3,
        warmup=2,
        val_every=2,
        ckpt_every=5,
        val_fraction=0.2,
        val_windows=64,
        device="cpu",
    )
    kw.update(train_kw)
    return policy, TrainConfig(**kw)


def test_lr_schedule_warms_up_then_decays_to_zero():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100) == pytest.approx(0.0, abs=1e-12)


def test_training_lowers_the_validation_loss_and_writes_curves(tmp_path, demos):
    policy_cfg, train_cfg = _cfgs(steps=120, val_every=20, ckpt_every=60, lr=3e-3, warmup=10)
    result = train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    curves = read_loss_csv(tmp_path / "loss.csv")
    assert curves["step"] == [float(s) for s in range(20, 121, 20)]
    assert curves["val_loss"][-1] < 0.6 * curves["val_loss"][0]
    assert all(v > 0 for v in curves["samples_per_s"])
    loaded = DiffusionPolicy.load(tmp_path / "policy.pt", device="cpu")
    assert loaded.metadata["steps"] == 120
    assert result.policy.cfg == loaded.cfg


def test_kill_and_resume_gives_the_identical_next_loss(tmp_path, demos):
    policy_cfg, train_cfg = _cfgs(steps=10, ckpt_every=5)
    straight: dict[int, float] = {}
    train(
        policy_cfg,
        train_cfg,
        tmp_path / "a",
        demos=demos,
        progress=False,
        on_step=lambda s, v: straight.__setitem__(s, v),
    )

    def kill(step: int, value: float) -> None:
        if step == 7:  # as `kill` or a job scheduler would stop the run
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        train(policy_cfg, train_cfg, tmp_path / "b", demos=demos, progress=False, on_step=kill)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
        signal.getsignal(signal.SIGTERM)
    )
    resumed: dict[int, float] = {}
    train(
        policy_cfg,
        train_cfg,
        tmp_path / "b",
        demos=demos,
        progress=False,
        on_step=lambda s, v: resumed.__setitem__(s, v),
    )
    assert min(resumed) == 8, "the checkpoint written on SIGTERM at step 7 must be picked up"
    for step in range(8, 11):
        assert resumed[step] == straight[step]
    a = torch.load(tmp_path / "a" / "policy.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "policy.pt", weights_only=True)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(
    tmp_path, demos, monkeypatch
):
    policy_cfg, train_cfg = _cfgs(steps=20, ckpt_every=4)
    original = DiffusionPolicy.loss
    calls = {"n": 0}

    def poisoned(self, obs, actions, generator=None):
        loss = original(self, obs, actions, generator)
        if not self.training:  # validation passes are not optimisation steps
            return loss
        calls["n"] += 1
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setattr(DiffusionPolicy, "loss", poisoned)
    with pytest.raises(TrainingDiverged, match="step 7.*step 4"):
        train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 4


def test_resuming_with_another_config_is_refused(tmp_path, demos):
    policy_cfg, train_cfg = _cfgs(steps=5)
    train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    other = PolicyConfig(sde="ve", decoder="tiny")
    with pytest.raises(ValueError, match="another policy config"):
        train(other, train_cfg, tmp_path, demos=demos, progress=False)


def test_image_policy_trains_end_to_end_on_cpu(tmp_path, demos):
    small = demos.subset(range(2))
    policy_cfg = PolicyConfig(sde="vp", obs_type="pixels", decoder="tiny")
    train_cfg = TrainConfig(
        steps=2,
        batch_size=4,
        warmup=1,
        val_every=1,
        ckpt_every=2,
        val_fraction=0.5,
        val_windows=4,
        device="cpu",
    )
    result = train(policy_cfg, train_cfg, tmp_path, demos=small, progress=False)
    with open(tmp_path / "loss.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r["train_loss"]) > 0 for r in rows)
    assert result.policy.obs_type == "pixels_agent_pos"
    rollout = evaluate(result.policy, seeds=[100000], steps=2, max_steps=8, progress=False)
    assert rollout["n_episodes"] == 1 and 0.0 <= rollout["mean_score"] <= 1.0

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


# ---------------------------------------------------------------------- budgets, exact logs, locks

_TIMING = ("samples_per_s", "elapsed_s")


def _log_rows(path) -> list[dict[str, str]]:
    with open(path) as fh:
        return [{k: v for k, v in row.items() if k not in _TIMING} for row in csv.DictReader(fh)]


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_a_budget_fixes_the_steps_and_those_steps_reproduce_the_run(tmp_path, demos):
    import time

    policy_cfg, train_cfg = _cfgs(steps=1, minutes=0.1, warmup=None, val_every=None)
    start = time.perf_counter()
    budgeted = train(policy_cfg, train_cfg, tmp_path / "budget", demos=demos, progress=False)
    seconds = time.perf_counter() - start
    budget = budgeted.policy.metadata["budget"]
    steps = budgeted.policy.metadata["steps"]
    assert budget["fitted_steps"] == steps > 10
    assert budget["measured_samples_per_s"] > 0 and budget["warmup_samples_per_s"] > 0
    assert seconds < 2 * 6.0, f"a 6 s budget took {seconds:.1f} s"
    recorded = budgeted.policy.metadata["train_config"]
    assert recorded["steps"] == steps and recorded["minutes"] == 0.1
    assert recorded["warmup"] == min(300, max(1, budget["probe_steps"] // 10))
    # the count was fitted again after warm-up: steps and warm-up from the metadata reproduce it
    _, again_cfg = _cfgs(steps=steps, warmup=recorded["warmup"], val_every=recorded["val_every"])
    train(policy_cfg, again_cfg, tmp_path / "steps", demos=demos, progress=False)
    a, b = _weights(tmp_path / "budget" / "policy.pt"), _weights(tmp_path / "steps" / "policy.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert _log_rows(tmp_path / "budget" / "loss.csv") == _log_rows(tmp_path / "steps" / "loss.csv")


def test_a_budget_fits_its_steps_again_when_the_machine_slows_after_the_probe(tmp_path, demos):
    """The probe times an unhindered copy; then every step of the run is made 100 ms slower (as
    if other jobs took the cores). Fitted on the probe alone, the run would take several times
    its 6 s budget; fitted again from the warm-up's pace it ends near the budget."""
    import time

    policy_cfg, train_cfg = _cfgs(steps=1, minutes=0.1, warmup=None, val_every=None)
    start = time.perf_counter()
    result = train(
        policy_cfg, train_cfg, tmp_path, demos=demos, progress=False,
        on_step=lambda step, loss: time.sleep(0.1),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    budget = result.policy.metadata["budget"]
    probe_seconds = budget["probe_steps"] * 0.1
    assert probe_seconds > 2 * 6.0, "the probe's count must overrun the budget for this test"
    assert budget["fitted_steps"] == result.policy.metadata["steps"] < budget["probe_steps"] / 2
    assert budget["warmup_samples_per_s"] < budget["measured_samples_per_s"] / 2
    assert seconds < 1.5 * 6.0, f"a 6 s budget took {seconds:.1f} s"


def test_a_budget_run_resumes_with_its_fitted_steps(tmp_path, demos):
    policy_cfg, train_cfg = _cfgs(steps=1, minutes=0.05, warmup=None, val_every=None)
    first = train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    again = train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    assert again.policy.metadata["steps"] == first.policy.metadata["steps"]
    assert again.policy.metadata["budget"] == first.policy.metadata["budget"]


def test_a_budget_too_small_for_one_step_is_refused(tmp_path, demos):
    policy_cfg, train_cfg = _cfgs(minutes=1e-4)
    with pytest.raises(ValueError, match="no time for a step"):
        train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)


def test_sigterm_then_resume_gives_the_uninterrupted_loss_log_row_for_row(tmp_path, demos):
    policy_cfg, train_cfg = _cfgs(steps=12, val_every=2, ckpt_every=5)
    train(policy_cfg, train_cfg, tmp_path / "a", demos=demos, progress=False)

    def term(step: int, value: float) -> None:
        if step == 8:  # a validation step between two checkpoints
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        train(policy_cfg, train_cfg, tmp_path / "b", demos=demos, progress=False, on_step=term)
    train(policy_cfg, train_cfg, tmp_path / "b", demos=demos, progress=False)
    straight = _log_rows(tmp_path / "a" / "loss.csv")
    assert [int(r["step"]) for r in straight] == [2, 4, 6, 8, 10, 12]
    assert _log_rows(tmp_path / "b" / "loss.csv") == straight


_KILL_SCRIPT = """
import os, signal, sys
from course_lib.data import load_pusht
from course_lib.policy import PolicyConfig
from course_lib.train import TrainConfig, train
cfg = TrainConfig(steps=12, batch_size=32, lr=1e-3, warmup=2, val_every=2, ckpt_every=5,
                  val_fraction=0.2, val_windows=64, device="cpu")
kill_at = int(sys.argv[2])
def hook(step, value):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
train(PolicyConfig(sde="vp", decoder="tiny"), cfg, sys.argv[1],
      demos=load_pusht().subset(range(12)), progress=False, on_step=hook)
"""


def test_sigkill_then_resume_gives_the_uninterrupted_loss_log_row_for_row(tmp_path):
    import subprocess
    import sys

    def run(run_dir, kill_at: int) -> int:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-c", _KILL_SCRIPT, str(run_dir), str(kill_at)]
        return subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode

    assert run(tmp_path / "a", 0) == 0
    assert run(tmp_path / "b", 7) == -signal.SIGKILL  # dies after the checkpoint of step 5
    assert run(tmp_path / "b", 0) == 0
    assert _log_rows(tmp_path / "b" / "loss.csv") == _log_rows(tmp_path / "a" / "loss.csv")
    a, b = _weights(tmp_path / "a" / "policy.pt"), _weights(tmp_path / "b" / "policy.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_resuming_with_other_steps_is_refused_and_names_fresh(tmp_path, demos):
    from course_lib.train import ResumeConflict

    policy_cfg, train_cfg = _cfgs(steps=10)
    train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    _, shorter = _cfgs(steps=4)
    with pytest.raises(ResumeConflict, match=r"steps: 10 -> 4.*--fresh"):
        train(policy_cfg, shorter, tmp_path, demos=demos, progress=False)
    assert DiffusionPolicy.load(tmp_path / "policy.pt", device="cpu").metadata["steps"] == 10


def test_a_setting_the_checkpoint_predates_counts_as_its_default_on_resume(tmp_path):
    """A checkpoint written before ``mirror`` existed trained without it: resuming it with the
    mirror on is refused, not silently continued on other data; with the default it resumes."""
    import dataclasses

    from course_lib.train import ResumeConflict
    from course_lib.train.resume import check_resume

    policy_cfg, train_cfg = _cfgs(steps=10)
    saved = dataclasses.asdict(train_cfg.resolved())
    del saved["mirror"]
    saved_policy = dataclasses.asdict(policy_cfg)
    mirrored = dataclasses.replace(train_cfg, mirror=True)
    with pytest.raises(ResumeConflict, match=r"mirror: False -> True"):
        check_resume(saved_policy, saved, policy_cfg, mirrored, tmp_path)
    assert check_resume(saved_policy, saved, policy_cfg, train_cfg, tmp_path).mirror is False


def test_rollout_settings_may_change_on_resume_and_model_settings_may_not(tmp_path):
    """Executed steps and sampler are read only when acting (``ROLLOUT_FIELDS``): a run resumes
    with other values; a changed horizon changes the network's shape and is refused."""
    import dataclasses

    from course_lib.policy import ROLLOUT_FIELDS
    from course_lib.train import ResumeConflict
    from course_lib.train.resume import check_resume

    policy_cfg, train_cfg = _cfgs(steps=10)
    saved_train = dataclasses.asdict(train_cfg.resolved())
    saved_policy = dataclasses.asdict(policy_cfg)
    acting = dataclasses.replace(policy_cfg, n_action_steps=3, solver="heun", steps=7)
    assert {f for f in ROLLOUT_FIELDS if getattr(acting, f) != saved_policy[f]} == set(
        ROLLOUT_FIELDS
    )
    assert check_resume(saved_policy, saved_train, acting, train_cfg, tmp_path).steps == 10
    longer = dataclasses.replace(policy_cfg, horizon=2 * policy_cfg.horizon)
    with pytest.raises(ResumeConflict, match="differs in horizon"):
        check_resume(saved_policy, saved_train, longer, train_cfg, tmp_path)


def test_a_second_training_in_a_locked_run_directory_is_refused_with_the_holders_pid(
    tmp_path, demos
):
    import subprocess
    import sys

    from course_lib.run_lock import RunLocked

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from course_lib.run_lock import RunLock\n"
            "with RunLock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        policy_cfg, train_cfg = _cfgs(steps=2)
        with pytest.raises(RunLocked, match=f"PID {holder.pid}"):
            train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    finally:
        holder.kill()
        holder.wait()
    policy_cfg, train_cfg = _cfgs(steps=2)  # the kernel released the lock with its holder
    train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)


def test_a_fresh_start_removes_the_old_results_and_leftover_temporaries(tmp_path, demos):
    policy_cfg, train_cfg = _cfgs(steps=4)
    train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    leftover = tmp_path / ".checkpoint.pt.1234.tmp"
    leftover.write_bytes(b"half a checkpoint")

    def stop(step: int, value: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(policy_cfg, train_cfg, tmp_path, demos=demos, resume=False, progress=False,
              on_step=stop)  # fmt: skip
    assert not (tmp_path / "policy.pt").exists(), "an old policy.pt would pass for this run's"
    assert not leftover.exists()
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 1


def test_a_run_directory_that_is_a_file_is_refused_before_any_work(tmp_path, demos):
    target = tmp_path / "run"
    target.write_text("not a directory")
    policy_cfg, train_cfg = _cfgs(steps=2)
    from course_lib.outputs import UnwritablePathError

    with pytest.raises(UnwritablePathError, match="is a file, not a directory"):
        train(policy_cfg, train_cfg, target, demos=demos, progress=False)


def test_bf16_autocast_trains_on_cpu(tmp_path, demos):
    policy_cfg, train_cfg = _cfgs(steps=3, amp=True)
    result = train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in result.history)
    assert next(result.policy.parameters()).dtype == torch.float32


def test_zero_or_fractional_settings_are_refused():
    for bad in (dict(steps=0), dict(batch_size=0), dict(warmup=0), dict(minutes=0.0),
                dict(minutes=-1.0), dict(steps=True), dict(val_every=2.5)):  # fmt: skip
        with pytest.raises(ValueError):
            TrainConfig(**bad)


def test_the_fused_ema_step_follows_the_recursion_with_its_warm_up():
    """theta_ema_n = theta_ema_{n-1} + (1 - d_n)(theta_n - theta_ema_{n-1}), d_n = ema_decay_at(n),
    with the first average a copy; an integer buffer is copied."""
    from torch.optim.swa_utils import AveragedModel

    from course_lib.train import ema_decay_at
    from course_lib.train.run import ema_update

    model = torch.nn.Linear(3, 2)
    model.register_buffer("count", torch.tensor([4]))
    ema = AveragedModel(model, multi_avg_fn=ema_update(0.9), use_buffers=True)
    expected = None
    for n in range(40):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
            model.count += 1
        ema.update_parameters(model)
        w = model.weight.detach().clone()
        expected = w if expected is None else expected + (1 - ema_decay_at(n, 0.9)) * (w - expected)
    torch.testing.assert_close(ema.module.weight, expected, rtol=1e-6, atol=1e-6)
    assert int(ema.module.count) == int(model.count) == 44


def test_the_train_command_takes_the_warmup_that_reproduces_a_budget_run(tmp_path):
    from course_lib.__main__ import main

    run_dir = tmp_path / "run"
    argv = ["train", "--decoder", "tiny", "--steps", "4", "--warmup", "3", "--batch-size", "8"]
    assert main([*argv, "--device", "cpu", "--run-dir", str(run_dir)]) == 0
    recorded = DiffusionPolicy.load(run_dir / "policy.pt", device="cpu").metadata["train_config"]
    assert (recorded["steps"], recorded["warmup"]) == (4, 3)

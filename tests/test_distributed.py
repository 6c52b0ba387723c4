"""Data-parallel training under torchrun, on CPU with gloo and two processes.

Two ranks, each on its half of every global batch, give the losses and weights of one process on
the whole batch (to rounding); a job stopped by SIGTERM resumes where it stopped; a rank that
raises brings the job down with its message; the command line trains under torchrun.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import ddp_worker
import pytest
import torch

from course_lib.distributed import Group, launched_ranks, rank_device
from course_lib.policy import DiffusionPolicy
from course_lib.train import ShardLoss

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("ddp_worker.py")
STEPS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 ARGS`` on a free port; one thread per rank."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "COURSE_LIB_DIST_TIMEOUT_S": "60",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *args]
    job = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)  # torchrun and its ranks: no orphan left behind
        stdout, stderr = job.communicate()
        pytest.fail(f"torchrun ran over {timeout} s\n{stdout[-3000:]}\n{stderr[-6000:]}")
    return subprocess.CompletedProcess(command, job.returncode, stdout, stderr)


def _worker(run_dir: Path, *options: str) -> subprocess.CompletedProcess:
    losses = run_dir.parent / f"{run_dir.name}-losses"
    return _torchrun(str(WORKER), str(run_dir), str(losses), *options, cwd=run_dir.parent)


def _losses(run_dir: Path, rank: int) -> dict[int, float]:
    path = run_dir.parent / f"{run_dir.name}-losses.{rank}.json"
    return {int(k): v for k, v in json.loads(path.read_text()).items()}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def _assert_weights_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6, msg=key)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> tuple[Path, dict[int, float]]:
    """The reference: one process, the whole global batch, same seed."""
    run_dir = tmp_path_factory.mktemp("single") / "run"
    losses: dict[int, float] = {}
    ddp_worker.run(run_dir, STEPS, losses)
    return run_dir, losses


def _check(result: subprocess.CompletedProcess, ok: bool = True) -> None:
    if (result.returncode == 0) != ok:
        pytest.fail(
            f"torchrun exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )


# ---------------------------------------------------------------------- in one process


def test_shard_means_average_to_the_global_batch_loss_and_gradient():
    from builders import make_policy

    policy = make_policy("vp")
    obs = {"obs": torch.randn(8, policy.cfg.n_obs, policy.cfg.obs_dim)}
    actions = torch.randn(8, policy.cfg.horizon, 2)

    def loss_and_grads(rows):
        policy.zero_grad()
        part = {"obs": obs["obs"][rows or slice(None)]}
        loss = ShardLoss(policy, rows)(part, actions, torch.Generator().manual_seed(3))
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in policy.parameters()]

    whole, whole_grads = loss_and_grads(None)
    first, first_grads = loss_and_grads(slice(0, 4))
    second, second_grads = loss_and_grads(slice(4, 8))
    torch.testing.assert_close((first + second) / 2, whole)
    for g, g1, g2 in zip(whole_grads, first_grads, second_grads, strict=True):
        torch.testing.assert_close((g1 + g2) / 2, g, rtol=1e-5, atol=1e-7)


def test_the_global_batch_is_shared_out_in_equal_shards_or_refused():
    two = [Group(rank=r, world_size=2) for r in range(2)]
    assert [g.shard(16) for g in two] == [slice(0, 8), slice(8, 16)]
    assert Group().shard(16) is None
    with pytest.raises(ValueError, match="batch size 15 does not split evenly over 2"):
        two[0].shard(15)


def test_ranks_are_read_from_torchrun_environment():
    assert launched_ranks({}) is None
    assert launched_ranks({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (1, 4, 1)
    with pytest.raises(ValueError, match="inconsistent"):
        launched_ranks({"RANK": "4", "WORLD_SIZE": "4"})
    assert rank_device("cpu", 1) == torch.device("cpu")
    if not torch.cuda.is_available():
        assert rank_device("auto", 1) == torch.device("cpu")


# ---------------------------------------------------------------------- under torchrun


def test_two_processes_equal_one_process_with_the_same_global_batch(single, tmp_path):
    reference_dir, reference = single
    run_dir = tmp_path / "ddp"
    _check(_worker(run_dir, "--steps", str(STEPS)))
    rank0, rank1 = _losses(run_dir, 0), _losses(run_dir, 1)
    assert sorted(rank0) == list(range(1, STEPS + 1))
    assert rank0 == rank1, "every rank logs the global-batch loss"
    for step in rank0:
        assert rank0[step] == pytest.approx(reference[step], rel=1e-5)
    _assert_weights_close(
        _weights(run_dir / "checkpoint.pt"), _weights(reference_dir / "checkpoint.pt")
    )
    _assert_weights_close(_weights(run_dir / "policy.pt"), _weights(reference_dir / "policy.pt"))
    ddp_rows = (run_dir / "loss.csv").read_text().splitlines()
    assert len(ddp_rows) == 1 + STEPS // 2, "rank 0 alone writes the validation rows"
    policy = DiffusionPolicy.load(run_dir / "policy.pt", device="cpu")
    assert policy.metadata["processes"] == 2 and policy.metadata["steps"] == STEPS


def test_a_stopped_distributed_job_resumes_where_it_stopped(single, tmp_path):
    reference_dir, reference = single
    run_dir = tmp_path / "ddp"
    _check(_worker(run_dir, "--steps", str(STEPS), "--stop-job-at", "7"), ok=False)
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 7, "both ranks stop after the step in flight; rank 0 saves it"
    assert not (run_dir / "policy.pt").exists()
    _check(_worker(run_dir, "--steps", str(STEPS)))
    resumed = _losses(run_dir, 0)
    assert sorted(resumed) == [8, 9, 10]
    for step in resumed:
        assert resumed[step] == pytest.approx(reference[step], rel=1e-5)
    _assert_weights_close(_weights(run_dir / "policy.pt"), _weights(reference_dir / "policy.pt"))


def test_a_rank_that_raises_stops_the_job_with_its_message(tmp_path):
    start = time.perf_counter()
    result = _worker(tmp_path / "ddp", "--steps", "200", "--fail-at", "3", "--fail-rank", "1")
    _check(result, ok=False)
    assert ddp_worker.FAILURE.format(rank=1, step=3) in result.stdout + result.stderr
    assert time.perf_counter() - start < 120, "the other rank must not wait for a timeout"
    assert not (tmp_path / "ddp" / "policy.pt").exists()


def test_a_wall_clock_budget_is_fitted_once_and_every_rank_runs_its_steps(tmp_path):
    """``minutes`` under torchrun: the ranks measure together (the probe includes the gradient
    all-reduce) and take rank 0's figures, so they all run the same fitted step count (ranks that
    disagreed would leave one waiting in an all-reduce until the timeout). 30 s: with CI's two lanes
    on two cores, the set-up of two ranks once used up a 15 s budget before its first step."""
    run_dir = tmp_path / "ddp"
    _check(_worker(run_dir, "--minutes", "0.5"))
    policy = DiffusionPolicy.load(run_dir / "policy.pt", device="cpu")
    fitted = policy.metadata["budget"]["fitted_steps"]
    assert policy.metadata["steps"] == policy.metadata["train_config"]["steps"] == fitted
    assert policy.metadata["processes"] == 2
    rank0, rank1 = _losses(run_dir, 0), _losses(run_dir, 1)
    assert sorted(rank0) == sorted(rank1) == list(range(1, fitted + 1))
    assert rank0 == rank1


def test_the_command_line_trains_under_torchrun_and_its_policy_loads(tmp_path):
    run_dir = tmp_path / "run"
    result = _torchrun(
        "-m",
        "course_lib",
        "train",
        "--sde",
        "vp",
        "--steps",
        "4",
        "--device",
        "cpu",
        "--decoder",
        "tiny",
        "--run-dir",
        str(run_dir),
        "--no-progress",
        cwd=tmp_path,
    )
    _check(result)
    policy = DiffusionPolicy.load(run_dir / "policy.pt", device="cpu")
    assert policy.metadata["steps"] == 4 and policy.metadata["processes"] == 2
    obs = torch.zeros(1, policy.cfg.n_obs, policy.cfg.obs_dim)
    chunk = policy.sample_normalized({"obs": obs}, steps=2, generator=torch.Generator())
    assert chunk.shape == (1, policy.cfg.horizon, 2) and torch.isfinite(chunk).all()


def test_nproc_relaunches_without_itself_and_is_refused_under_torchrun(monkeypatch, capsys):
    from course_lib.__main__ import main, without_flag

    argv = ["train", "--nproc", "2", "--steps", "4", "--nproc=3", "--device", "cpu"]
    assert without_flag(argv, "--nproc") == ["train", "--steps", "4", "--device", "cpu"]
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--nproc", "2", "--steps", "4"]) == 2
    assert "torchrun starts the processes" in capsys.readouterr().err

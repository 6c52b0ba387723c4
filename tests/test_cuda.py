"""The CUDA code path, checked against the CPU (skipped where no GPU is present).

- Every SDE's probability-flow samplers, with the exact score of N(0, 0.5^2) data, give on the GPU
  the samples the CPU gives from the same prior draw (float64). The reverse SDE's noise comes from
  the device's own generator, so Euler-Maruyama is checked by its output variance, 0.25.
- The shipped policies' networks give the same scores on both devices, and a policy on the GPU
  acts whichever device its random generator draws on.
- Training on the GPU, in float32 and under bf16 autocast, lowers the validation loss and writes a
  policy that loads on the CPU; a wall-clock budget records its fitted step count, and evaluation
  runs with the policy on the GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from builders import F64, gen

from course_lib import config, pretrained, sdes, shipped, solvers, toy
from course_lib.data import load_pusht
from course_lib.evaluate import evaluate
from course_lib.policy import DiffusionPolicy, PolicyConfig
from course_lib.pusht import evaluation_seeds, observe
from course_lib.train import TrainConfig, read_loss_csv, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

GPU = torch.device("cuda")
DATA_STD = 0.5


@pytest.fixture(scope="module")
def demos():
    return load_pusht().subset(range(12))


def test_device_auto_picks_the_gpu():
    assert config.device("auto").type == "cuda"


@pytest.mark.parametrize("name", sdes.names())
def test_probability_flow_samples_are_the_same_on_gpu_and_cpu(name):
    sde = sdes.get(name)
    score = toy.gaussian_1d(DATA_STD).score_fn(sde)
    x_init = sde.prior_sample((512, 1), generator=gen(0), dtype=F64)
    for solver in [s for s in ("euler", "heun") if s in sde.solvers]:
        on = {
            device: solvers.sample(
                sde, score, (512, 1), solver=solver, steps=20, x_init=x_init.to(device)
            )
            for device in ("cpu", GPU)
        }
        assert on[GPU].device.type == "cuda"
        torch.testing.assert_close(on[GPU].cpu(), on["cpu"], rtol=1e-9, atol=1e-9)


def test_euler_maruyama_on_the_gpu_reaches_the_data_variance():
    sde = sdes.get("vp")
    generator = torch.Generator(device=GPU).manual_seed(0)
    x = solvers.sample(
        sde,
        toy.gaussian_1d(DATA_STD).score_fn(sde),
        (100_000, 1),
        solver="em",
        steps=1000,
        generator=generator,
        dtype=F64,
        device=GPU,
    )
    assert x.device.type == "cuda"
    assert abs(float(x.var()) / DATA_STD**2 - 1) < 0.03


@pytest.mark.parametrize("name", shipped.names())
def test_shipped_networks_give_the_same_scores_on_gpu_and_cpu(name, demos):
    policies = {device: pretrained(name, device=device) for device in ("cpu", "cuda")}
    history = observe(demos.episode(0)["states"][:2], "keypoints")
    scores = {}
    for device, policy in policies.items():
        assert policy.device.type == device
        cond = policy.encode(policy.prepare_obs(history))
        state = policy.sde.prior_sample((1, policy.cfg.horizon, 2), generator=gen(0))
        t = torch.full((1,), 0.5 * policy.sde.T)
        with torch.no_grad():
            scores[device] = policy.score_fn(cond)(
                state.to(policy.device), t.to(policy.device)
            ).cpu()
    torch.testing.assert_close(scores["cuda"], scores["cpu"], rtol=1e-3, atol=1e-3)


def test_a_gpu_policy_acts_with_no_generator_and_with_one_on_either_device():
    policy = pretrained("ve-edm", device="cuda")
    history = observe(load_pusht().episode(0)["states"][:2], "keypoints")
    drawn = [
        policy.act(history, generator=generator)
        for generator in (None, gen(0), torch.Generator(device=GPU).manual_seed(0))
    ]
    for actions in drawn:
        assert actions.shape == (1, policy.cfg.horizon, 2) and np.isfinite(actions).all()
    np.testing.assert_allclose(policy.act(history, generator=gen(0)), drawn[1], atol=1e-3)


@pytest.mark.parametrize("amp", [False, True], ids=["float32", "bf16"])
def test_training_on_the_gpu_lowers_the_loss_and_loads_on_the_cpu(amp, demos, tmp_path):
    train_cfg = TrainConfig(
        steps=120, batch_size=64, lr=3e-3, warmup=10, val_every=40, ckpt_every=60,
        val_fraction=0.2, val_windows=128, device="cuda", amp=amp,
    )  # fmt: skip
    result = train(PolicyConfig(sde="ve-edm", decoder="tiny"), train_cfg, tmp_path, demos=demos)
    assert result.policy.device.type == "cuda"
    curves = read_loss_csv(tmp_path / "loss.csv")
    assert curves["val_loss"][-1] < 0.8 * curves["val_loss"][0]
    loaded = DiffusionPolicy.load(tmp_path / "policy.pt", device="cpu")
    assert loaded.metadata["train_config"]["amp"] is amp
    assert loaded.metadata["train_config"]["device"] == "cuda"


def test_a_budget_on_the_gpu_records_its_steps_and_evaluates_there(demos, tmp_path):
    train_cfg = TrainConfig(
        steps=1, batch_size=64, warmup=5, val_every=50, ckpt_every=100, val_fraction=0.2,
        val_windows=64, device="auto", minutes=0.1,
    )  # fmt: skip
    result = train(PolicyConfig(sde="vp", decoder="tiny"), train_cfg, tmp_path, demos=demos)
    metadata = result.policy.metadata
    assert metadata["steps"] == metadata["train_config"]["steps"] >= 1
    assert metadata["budget"]["measured_samples_per_s"] > 0
    out = evaluate(result.policy, evaluation_seeds(2), "heun", 5, max_steps=20, progress=False)
    assert out["n_episodes"] == 2 and 0.0 <= out["mean_score"] <= 1.0

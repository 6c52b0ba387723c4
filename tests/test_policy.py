"""The diffusion policy: networks, sampling, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from builders import make_policy

from course_lib import sdes
from course_lib.nets import DECODER_SIZES, build_decoder, build_encoder, count_parameters
from course_lib.policy import (
    FORMAT_VERSION,
    CheckpointError,
    DiffusionPolicy,
    PolicyConfig,
    atomic_torch_save,
)


@pytest.mark.parametrize("size", sorted(DECODER_SIZES))
@pytest.mark.parametrize("sde_name", ["vp", "cld-hsm"])
def test_decoders_map_chunks_to_chunks(size, sde_name):
    sde = sdes.get(sde_name)
    dec = build_decoder(size, 16, 2 * sde.state_factor, 2)
    x = torch.randn(3, 16, 2 * sde.state_factor)
    out = dec(x, torch.rand(3), torch.randn(3, DECODER_SIZES[size].cond_dim))
    assert out.shape == (3, 16, 2)


def test_paper_decoder_has_about_nine_million_parameters_and_course_is_small():
    paper = count_parameters(build_decoder("paper", 8, 2, 2))
    course = count_parameters(build_decoder("course", 16, 2, 2))
    assert 8e6 < paper < 11e6, paper
    assert course < paper / 3, course


def test_image_encoder_is_resnet18_with_group_norm():
    enc = build_encoder("pixels", 2, 2, 64)
    norms = [m for m in enc.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    groups = [m for m in enc.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert not norms and len(groups) == 20
    feats = enc(torch.rand(2, 2, 3, 84, 84), torch.rand(2, 2, 2))
    assert feats.shape == (2, 64)
    assert 11e6 < count_parameters(enc.backbone) < 12e6  # ResNet-18 without its classifier


def test_decoder_rejects_wrong_chunk_length():
    dec = build_decoder("tiny", 16, 2, 2)
    with pytest.raises(ValueError, match="action chunk"):
        dec(torch.randn(2, 8, 2), torch.rand(2), torch.randn(2, 64))


def test_unknown_names_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="vp"):
        PolicyConfig(sde="nope")
    with pytest.raises(ValueError, match="course"):
        PolicyConfig(decoder="huge")
    with pytest.raises(ValueError, match="n_action_steps"):
        PolicyConfig(horizon=8, n_action_steps=9)


@pytest.mark.parametrize("sde_name", sdes.NAMES)
def test_act_returns_world_pixel_chunks_for_every_sde(sde_name):
    policy = make_policy(sde_name).eval()
    obs = np.random.default_rng(0).uniform(0, 512, size=(3, 2, 20))
    out = policy.act(obs, steps=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 16, 2)
    assert np.isfinite(out).all()


def test_act_validates_the_observation_history():
    policy = make_policy()
    with pytest.raises(ValueError, match="shape"):
        policy.act(np.zeros((1, 3, 20)), steps=2)
    with pytest.raises(ValueError, match="NaN"):
        policy.act(np.full((1, 2, 20), np.nan), steps=2)


def test_tiny_policy_overfits_one_observation():
    """Trained on one (observation, chunk) pair, sampling returns that chunk."""
    policy = make_policy("vp", decoder="tiny")
    obs = {"obs": torch.zeros(1, 2, 20).expand(64, 2, 20)}
    target = torch.linspace(-0.8, 0.8, 32).reshape(1, 16, 2).expand(64, 16, 2)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    first = None
    for _ in range(400):
        loss = policy.loss(obs, target, generator=gen)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    policy.eval()
    sample = policy.sample_normalized({"obs": obs["obs"][:8]}, "heun", 25, generator=gen)
    assert (sample - target[:8]).abs().mean() < 0.05


def test_checkpoint_round_trip_gives_identical_actions(tmp_path):
    policy = make_policy("ve").eval()
    path = policy.save(tmp_path / "p.pt")
    loaded = DiffusionPolicy.load(path, device="cpu")
    obs = np.random.default_rng(1).uniform(0, 512, size=(2, 2, 20))
    a = policy.act(obs, steps=5, generator=torch.Generator().manual_seed(3))
    b = loaded.act(obs, steps=5, generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(a, b)
    assert loaded.cfg == policy.cfg
    assert loaded.obs_type == "keypoints"


def test_metadata_reads_back_without_building_the_policy(tmp_path):
    from course_lib.checkpoints import read_metadata

    policy = make_policy("ve")
    policy.metadata = {"command": "test", "train_config": {"lr": 0.005}}
    path = policy.save(tmp_path / "p.pt")
    assert read_metadata(path) == policy.metadata == DiffusionPolicy.load(path, "cpu").metadata
    payload = policy.checkpoint_payload()
    payload["metadata"] = "[1, 2]"
    with pytest.raises(CheckpointError, match="must be a JSON object"):
        read_metadata(atomic_torch_save(payload, tmp_path / "list.pt"))


def test_corrupt_foreign_and_future_checkpoints_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable"):
        DiffusionPolicy.load(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a course_lib checkpoint"):
        DiffusionPolicy.load(foreign)
    payload = make_policy().checkpoint_payload()
    payload["format_version"] = FORMAT_VERSION + 1
    future = atomic_torch_save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format version"):
        DiffusionPolicy.load(future)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        DiffusionPolicy.load(tmp_path / "missing.pt")


def test_truncated_checkpoint_is_refused(tmp_path):
    path = make_policy().save(tmp_path / "p.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        DiffusionPolicy.load(path)


def test_shipped_models_follow_the_registry_and_keep_the_pretrained_function():
    import course_lib
    from course_lib import shipped

    names = shipped.names()
    assert set(names) <= {p.stem for p in shipped.PRETRAINED_DIR.glob("*.pt")} and names
    order = sdes.names()
    assert names == sorted(names, key=order.index)  # every shipped model is a registered SDE
    assert callable(course_lib.pretrained)  # the module is not named ``pretrained``
    policy = course_lib.pretrained(names[0], device="cpu")
    assert policy.cfg.sde == names[0] and policy.cfg.solver in policy.sde.solvers
    with pytest.raises(ValueError, match="no shipped checkpoint"):
        shipped.load("no-such-model")

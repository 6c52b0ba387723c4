"""The image pipeline that feeds a GPU, checked on CPU: the memory-mapped image cache, batches drawn
by step number in DataLoader workers, channels-last and bf16 autocast as options."""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.data import load_pusht, random_crop
from course_lib.data.batches import StepBatches, step_loader, step_seed, window_frames
from course_lib.data.images import crop_offsets, shared_dataset_images
from course_lib.nets import ImageEncoder
from course_lib.policy import DiffusionPolicy, PolicyConfig
from course_lib.train import TrainConfig, read_loss_csv, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small():
    return load_pusht().subset(range(2))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache directory of the test's own (the rendered images go there)."""
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _frames(n: int = 40, size: int = 12) -> np.ndarray:
    """Frames whose pixels encode (frame, row, column), so a crop shows where it came from."""
    f, r, c = np.meshgrid(np.arange(n), np.arange(size), np.arange(size), indexing="ij")
    return np.stack([f, r, c], axis=-1).astype(np.uint8)


# ---------------------------------------------------------------------- the image cache


def test_the_cache_is_memory_mapped_when_rendered_and_when_found(cache, small):
    first = shared_dataset_images(small, size=16, progress=False)
    again = shared_dataset_images(small, size=16, progress=False)
    for images in (first, again):
        assert isinstance(images, np.memmap) and images.shape == (small.n_frames, 16, 16, 3)
        assert Path(images.filename).parent == cache / "pusht"
    np.testing.assert_array_equal(first, again)


# ---------------------------------------------------------------------- batches by step number


def test_a_batch_depends_on_seed_and_step_alone():
    seeds = {step_seed(s, k) for s in range(3) for k in range(50)}
    assert len(seeds) == 150 and all(0 <= s < 2**63 for s in seeds)
    images, index = _frames(), torch.randint(40, (30, 2), generator=torch.Generator())
    batches = StepBatches(30, 8, seed=5, frame_index=index, images=images, crop=8)
    a, b = batches[7], batches[7]
    torch.testing.assert_close(a["idx"], b["idx"])
    torch.testing.assert_close(a["frames"], b["frames"])
    assert not torch.equal(batches[8]["idx"], a["idx"])
    assert a["frames"].shape == (8, 2, 8, 8, 3) and a["frames"].dtype == torch.uint8
    frames = a["frames"].long()
    torch.testing.assert_close(frames[:, :, 0, 0, 0], index[a["idx"]])  # each window's frames
    torch.testing.assert_close(frames[:, 0, 0, 0, 1:], frames[:, 1, 0, 0, 1:])  # one crop for both


def test_rank_shards_put_together_are_the_batch_of_one_process():
    images, index = _frames(), torch.randint(40, (30, 2), generator=torch.Generator())
    whole = StepBatches(30, 8, seed=1, frame_index=index, images=images, crop=8)[3]
    shards = [
        StepBatches(30, 8, seed=1, rows=rows, frame_index=index, images=images, crop=8)[3]
        for rows in (slice(0, 4), slice(4, 8))
    ]
    for shard in shards:
        torch.testing.assert_close(shard["idx"], whole["idx"])
    torch.testing.assert_close(torch.cat([s["frames"] for s in shards]), whole["frames"])


def test_window_frames_crop_as_random_crop_of_the_whole_batch():
    """The training loop's path (crops drawn for the whole batch, frames of the kept rows only)
    equals cropping every window and keeping the rows afterwards."""
    images, index = _frames(), torch.randint(40, (30, 2), generator=torch.Generator())
    idx = torch.arange(6)
    kept = window_frames(images, index, idx, 8, torch.Generator().manual_seed(2), slice(2, 4))
    every = torch.from_numpy(images[index[idx].numpy()])
    reference = random_crop(every, 8, generator=torch.Generator().manual_seed(2), layout="hwc")
    torch.testing.assert_close(kept, reference[2:4])
    tops, lefts = crop_offsets(6, 12, 12, 8, torch.Generator().manual_seed(2))
    torch.testing.assert_close(reference[:, 0, 0, 0, 1].long(), tops)
    torch.testing.assert_close(reference[:, 0, 0, 0, 2].long(), lefts)
    center = window_frames(images, index, idx, 8)
    torch.testing.assert_close(center, every[:, :, 2:10, 2:10])


def test_a_memory_mapped_cache_travels_to_a_worker_as_its_file_name(cache, small):
    images = shared_dataset_images(small, size=16, progress=False)
    index = torch.randint(small.n_frames, (50, 2), generator=torch.Generator())
    batches = StepBatches(50, 4, seed=0, frame_index=index, images=images, crop=12)
    payload = pickle.dumps(batches)
    assert len(payload) < images.nbytes / 20, "the frames must not be copied into the pickle"
    arrived = pickle.loads(payload)
    assert isinstance(arrived.images, np.memmap)
    torch.testing.assert_close(arrived[4]["frames"], batches[4]["frames"])


def test_workers_deliver_the_batches_of_the_training_process_in_order():
    images, index = _frames(), torch.randint(40, (30, 2), generator=torch.Generator())
    batches = StepBatches(30, 8, seed=3, frame_index=index, images=images, crop=8)
    here = list(step_loader(batches, 5, 11, num_workers=0))
    workers = list(step_loader(batches, 5, 11, num_workers=2, prefetch=2))
    assert len(here) == len(workers) == 6
    for a, b, step in zip(here, workers, range(5, 11), strict=True):
        torch.testing.assert_close(a["idx"], b["idx"])
        torch.testing.assert_close(a["frames"], b["frames"])
        torch.testing.assert_close(a["frames"], batches[step]["frames"])
    with pytest.raises(ValueError, match="num_workers"):
        step_loader(batches, 0, 1, num_workers=-1)


# ---------------------------------------------------------------------- channels-last, bf16


def test_channels_last_gives_the_outputs_and_gradients_of_the_default_layout():
    torch.manual_seed(0)
    plain = ImageEncoder(n_obs=2, out_dim=32)
    fast = ImageEncoder(n_obs=2, out_dim=32)
    fast.load_state_dict(plain.state_dict())
    fast.use_channels_last()
    conv = fast.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    images = torch.rand(3, 2, 3, 84, 84)
    pos = torch.rand(3, 2, 2)
    out_plain, out_fast = plain(images, pos), fast(images, pos)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-4, atol=1e-5)
    out_plain.square().sum().backward()
    out_fast.square().sum().backward()
    for (name, a), b in zip(plain.named_parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-5, msg=name)


def _image_cfgs(steps: int, **train_kw) -> tuple[PolicyConfig, TrainConfig]:
    policy = PolicyConfig(sde="vp", obs_type="pixels", decoder="tiny")
    kw = dict(
        steps=steps,
        batch_size=4,
        warmup=1,
        val_every=1,
        ckpt_every=steps,
        val_fraction=0.5,
        val_windows=4,
        device="cpu",
        num_threads=1,
    )
    return policy, TrainConfig(**{**kw, **train_kw})


def test_the_throughput_options_train_the_image_policy_with_finite_losses(cache, small, tmp_path):
    """bf16 autocast reaches the image encoder's convolutions; channels-last and loader workers
    train too; all give finite losses and a policy that loads."""
    seen: list[torch.dtype] = []
    original = ImageEncoder.forward

    def spy(self, images, pos):
        handle = self.backbone.conv1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        try:
            return original(self, images, pos)
        finally:
            handle.remove()

    options = {
        "amp": dict(amp=True),
        "cl": dict(channels_last=True),
        "workers": dict(num_workers=2),
    }
    for name, option in options.items():
        policy_cfg, train_cfg = _image_cfgs(2, **option)
        seen.clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ImageEncoder, "forward", spy)
            losses: list[float] = []
            train(
                policy_cfg,
                train_cfg,
                tmp_path / name,
                demos=small,
                progress=False,
                on_step=lambda step, value, losses=losses: losses.append(value),
            )
        assert len(losses) == 2 and all(np.isfinite(losses)), name
        assert all(np.isfinite(read_loss_csv(tmp_path / name / "loss.csv")["val_loss"]))
        if name == "amp":
            assert torch.bfloat16 in seen, "autocast must cover the image encoder"
        DiffusionPolicy.load(tmp_path / name / "policy.pt", device="cpu")


def test_worker_batches_do_not_depend_on_the_worker_count_and_resume_exactly(
    cache, small, tmp_path
):
    policy_cfg = _image_cfgs(4)[0]

    def run(name: str, workers: int, stop_at: int | None = None) -> dict[int, float]:
        losses: dict[int, float] = {}

        def on_step(step: int, value: float) -> None:
            losses[step] = value
            if step == stop_at:  # as a job scheduler would stop the run
                os.kill(os.getpid(), signal.SIGTERM)

        _, train_cfg = _image_cfgs(4, num_workers=workers, ckpt_every=2)
        train(policy_cfg, train_cfg, tmp_path / name, demos=small, progress=False, on_step=on_step)
        return losses

    one = run("one", workers=1)
    assert run("two", workers=2) == pytest.approx(one, rel=1e-6)
    with pytest.raises(KeyboardInterrupt):
        run("resumed", workers=2, stop_at=1)
    rest = run("resumed", workers=2)
    assert sorted(rest) == [2, 3, 4]
    assert rest == pytest.approx({k: one[k] for k in rest}, rel=1e-6)


def test_bench_times_every_image_variant_on_each_device():
    from course_lib.bench import (
        IMAGE_VARIANTS,
        bench_devices,
        format_image_throughput,
        image_throughput_rows,
    )

    assert bench_devices("cpu") == [torch.device("cpu")]
    rows = image_throughput_rows(["cpu"], seconds=0.01, decoders=("tiny",), batch_size=2)
    assert len(rows) == 1 and rows[0]["batch"] == 2
    for label, _, _ in IMAGE_VARIANTS:
        assert np.isfinite(rows[0][label]) and rows[0][label] > 0, label
    table = format_image_throughput(rows)
    assert all(label in table for label, _, _ in IMAGE_VARIANTS) and "tiny" in table


def test_the_command_line_passes_the_throughput_options(monkeypatch, tmp_path, capsys):
    import course_lib.train as train_module
    from course_lib.__main__ import main

    seen = {}

    def fake_train(policy_cfg, train_cfg, run_dir, **kw):
        seen.update(policy=policy_cfg, train=train_cfg)
        raise RuntimeError("configs seen")

    monkeypatch.setattr(train_module, "train", fake_train)
    flags = ["--amp", "--channels-last", "--num-workers", "3", "--steps", "2"]
    assert main(["train", "--obs", "pixels", *flags, "--run-dir", str(tmp_path / "run")]) == 2
    assert "configs seen" in capsys.readouterr().err
    assert seen["policy"].is_image
    assert seen["train"].amp and seen["train"].channels_last and seen["train"].num_workers == 3
    assert main(["train", "--num-workers", "-1", "--run-dir", str(tmp_path / "run")]) == 2
    assert "--num-workers must be at least 0" in capsys.readouterr().err

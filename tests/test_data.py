"""The demonstration pipeline: loading and its fallbacks, episodes, windows, normaliser, images."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from course_lib import data
from course_lib.data import (
    DataNotFoundError,
    MinMaxNormalizer,
    PushTDemos,
    absolute_to_delta,
    center_crop,
    delta_to_absolute,
    load_pusht,
    make_windows,
    random_crop,
    render_dataset_images,
    split_episodes,
)
from course_lib.data import store as data_store
from course_lib.pusht import observe, render_scene


@pytest.fixture(scope="module")
def demos() -> PushTDemos:
    return load_pusht()


def write_store(path: Path, demos: PushTDemos, skip: tuple[str, ...] = (), bad_state: bool = False):
    """A Diffusion Policy style zarr v2 store holding ``demos``."""
    arrays = {
        "data/state": demos.states[:, :4] if bad_state else demos.states,
        "data/action": demos.actions,
        "data/keypoint": demos.keypoints,
        "data/n_contacts": demos.n_contacts[:, None],
        "meta/episode_ends": demos.episode_ends,
    }
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    for name, value in arrays.items():
        if name not in skip:
            group.create_array(name, data=np.asarray(value))
    return path


@pytest.fixture
def tiny(demos) -> PushTDemos:
    return demos.subset([0, 1])


@pytest.fixture
def isolated(monkeypatch, tmp_path) -> Path:
    """No data anywhere: empty cache, no $COURSE_LIB_DATA, no shared copy, no network."""
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_LIB_DATA", raising=False)
    monkeypatch.setattr(data_store, "SHARED_DATA_PATH", tmp_path / "no-shared")
    monkeypatch.setattr(data_store, "PUSHT_ARCHIVE_URL", (tmp_path / "no-archive.zip").as_uri())
    return tmp_path


def zip_store(store: Path, archive: Path) -> str:
    """Zip ``store`` as the official archive lays it out; return the archive's SHA-256."""
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(store.rglob("*")):
            zf.write(file, Path("pusht") / "pusht_cchi_v7_replay.zarr" / file.relative_to(store))
    return hashlib.sha256(archive.read_bytes()).hexdigest()


def same_demos(a: PushTDemos, b: PushTDemos) -> bool:
    return all(
        np.array_equal(getattr(a, k), getattr(b, k))
        for k in ("states", "actions", "keypoints", "n_contacts", "episode_ends")
    )


# ----------------------------------------------------------------------------------- loading


def test_the_shared_copy_loads_with_its_documented_facts(demos):
    assert demos.n_episodes == 206 and demos.n_frames == 25650
    assert demos.states.dtype == np.float32 and demos.keypoints.shape == (25650, 9, 2)
    assert demos.n_contacts.shape == (25650,) and demos.episode_ends[-1] == 25650
    # State range from the data README.
    np.testing.assert_allclose(
        demos.states.min(axis=0), [13.456, 32.938, 57.472, 108.280, 0.0002], atol=1e-3
    )
    np.testing.assert_allclose(demos.actions.min(axis=0), [12, 25])
    lengths = [sl.stop - sl.start for sl in demos.episode_slices()]
    assert sum(lengths) == demos.n_frames and lengths == demos.episode_lengths().tolist()
    ep = demos.episode(5)
    np.testing.assert_array_equal(ep["actions"], demos.actions[demos.episode_slices()[5]])
    assert demos.episode_ids()[demos.episode_ends[4]] == 5
    with pytest.raises(IndexError):
        demos.episode(206)


def test_lookup_order_argument_env_cache_shared(isolated, tiny, demos, monkeypatch):
    one = write_store(isolated / "one.zarr", tiny)
    other = write_store(isolated / "other.zarr", demos.subset([3]))
    cached = write_store(data.pusht_cache_dir() / "pusht_cchi_v7_replay.zarr", demos.subset([4]))
    shared = write_store(isolated / "shared.zarr", demos.subset([5]))
    monkeypatch.setattr(data_store, "SHARED_DATA_PATH", shared)

    assert load_pusht().n_frames == demos.subset([4]).n_frames  # cache before the shared copy
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_LIB_DATA", str(other))
        assert same_demos(load_pusht(), demos.subset([3]))  # env before the cache
        assert same_demos(load_pusht(one), tiny)  # argument before the env
        with pytest.raises(DataNotFoundError):  # a folder without a known store name
            load_pusht(isolated)
    shutil.rmtree(cached)
    assert same_demos(load_pusht(), demos.subset([5]))  # the shared copy last


def test_explicit_paths_that_hold_nothing_are_errors(isolated, monkeypatch):
    with pytest.raises(DataNotFoundError, match="path argument"):
        load_pusht(isolated / "missing.zarr")
    monkeypatch.setenv("COURSE_LIB_DATA", str(isolated / "missing.zarr"))
    with pytest.raises(DataNotFoundError, match="COURSE_LIB_DATA"):
        load_pusht()


def test_nothing_found_names_all_three_ways(isolated):
    with pytest.raises(DataNotFoundError) as info:
        load_pusht()
    message = str(info.value)
    for needle in ("load_pusht('", "COURSE_LIB_DATA", "download", str(data.pusht_cache_dir())):
        assert needle in message
    assert "could not download" in message
    with pytest.raises(DataNotFoundError, match="download=False"):
        load_pusht(download=False)


def test_download_of_a_local_archive_then_cache_hit(isolated, tiny, monkeypatch):
    archive = isolated / "pusht.zip"
    digest = zip_store(write_store(isolated / "src.zarr", tiny), archive)
    monkeypatch.setattr(data_store, "PUSHT_ARCHIVE_URL", archive.as_uri())
    monkeypatch.setattr(data_store, "PUSHT_ARCHIVE_SHA256", digest)
    loaded = load_pusht()
    assert same_demos(loaded, tiny)
    assert Path(loaded.source) == data.pusht_cache_dir() / "pusht_cchi_v7_replay.zarr"
    assert (
        data.pusht_cache_dir() / "pusht_cchi_v7_replay.zarr.sha256"
    ).read_text().strip() == digest
    archive.unlink()  # a second load must not need the archive
    assert same_demos(load_pusht(), tiny)


def test_download_rejects_a_wrong_checksum_and_a_non_zip(isolated, tiny):
    archive = isolated / "pusht.zip"
    zip_store(write_store(isolated / "src.zarr", tiny), archive)
    dest = isolated / "dest"
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.download_pusht(dest, url=archive.as_uri(), sha256="0" * 64, progress=False)
    assert data.find_store(dest) is None and not any(p.suffix == ".zarr" for p in dest.iterdir())
    junk = isolated / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a zip"):
        data.download_pusht(dest, url=junk.as_uri(), progress=False)


def test_missing_arrays_and_wrong_shapes_are_named(tmp_path, tiny):
    store = write_store(tmp_path / "a.zarr", tiny, skip=("data/keypoint",))
    with pytest.raises(ValueError, match="data/keypoint"):
        load_pusht(store)
    store = write_store(tmp_path / "b.zarr", tiny, bad_state=True)
    with pytest.raises(ValueError, match=r"data/state has shape \(\d+, 4\)"):
        load_pusht(store)
    with pytest.raises(ValueError, match="episode_ends"):
        PushTDemos(tiny.states, tiny.actions, tiny.keypoints, tiny.n_contacts, np.array([5]))
    with pytest.raises(ValueError, match="actions must have shape"):
        PushTDemos(
            tiny.states, tiny.actions[:-1], tiny.keypoints, tiny.n_contacts, tiny.episode_ends
        )


def test_split_episodes_partitions_reproducibly():
    train, val = split_episodes(206, 0.05, seed=0)
    assert len(val) == 10 and len(train) == 196
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(range(206))
    again = split_episodes(206, 0.05, seed=0)
    np.testing.assert_array_equal(val, again[1])
    assert not np.array_equal(val, split_episodes(206, 0.05, seed=1)[1])
    assert len(split_episodes(206, 0.0)[1]) == 0
    assert len(split_episodes(3, 0.01)[1]) == 1
    with pytest.raises(ValueError, match="val_fraction"):
        split_episodes(206, 1.0)


# ----------------------------------------------------------------------------------- windows


def test_window_shapes_for_each_kind(demos):
    ids = [0, 7]
    frames = int(sum(demos.episode_lengths()[ids]))
    kp = make_windows(demos, ids, "keypoints", n_obs=2, horizon=16)
    assert kp.obs.shape == (frames, 2, 20) and kp.action.shape == (frames, 16, 2)
    assert kp.obs.dtype == torch.float32 and kp.frame_index is None and len(kp) == frames
    assert make_windows(demos, ids, "state", n_obs=3, horizon=8).obs.shape == (frames, 3, 5)
    px = make_windows(demos, ids, "pixels", n_obs=2, horizon=16)
    assert px.obs.shape == (frames, 2, 2) and px.frame_index.shape == (frames, 2)
    np.testing.assert_array_equal(px.obs.numpy(), demos.states[px.frame_index.numpy(), :2])
    assert set(kp.episode.tolist()) == set(ids)
    with pytest.raises(ValueError, match="'absolute', 'delta'"):
        make_windows(demos, ids, action_kind="velocity")
    with pytest.raises(ValueError, match="obs_type"):
        make_windows(demos, ids, obs_type="rgb")


def test_windows_align_with_the_raw_arrays(demos):
    w = make_windows(demos, [2], "keypoints", n_obs=2, horizon=16)
    sl = demos.episode_slices()[2]
    features = observe(demos.states.astype(np.float64), "keypoints")
    for m in (5, 40, 90):
        t = sl.start + m
        assert int(w.frame[m]) == t
        np.testing.assert_allclose(w.obs[m].numpy(), features[t - 1 : t + 1], atol=1e-4)
        np.testing.assert_array_equal(w.action[m].numpy(), demos.actions[t : t + 16])


def test_windows_repeat_the_edge_frames_of_each_episode(demos):
    w = make_windows(demos, [1, 2], "state", n_obs=3, horizon=16)
    first, second = demos.episode_slices()[1:3]
    n1 = first.stop - first.start
    # The first sample of episode 2 repeats its first state (never episode 1's last).
    np.testing.assert_array_equal(
        w.obs[n1].numpy(), np.repeat(demos.states[second.start][None], 3, 0)
    )
    np.testing.assert_array_equal(w.obs[n1 + 1, 0].numpy(), demos.states[second.start])
    # Three frames before episode 1 ends: three real actions, then the last one repeated.
    m = n1 - 3
    np.testing.assert_array_equal(
        w.action[m, :3].numpy(), demos.actions[first.stop - 3 : first.stop]
    )
    np.testing.assert_array_equal(
        w.action[m, 3:].numpy(), np.repeat(demos.actions[first.stop - 1][None], 13, 0)
    )
    np.testing.assert_array_equal(
        w.action[n1 - 1].numpy(), np.repeat(demos.actions[first.stop - 1][None], 16, 0)
    )


def test_delta_actions_round_trip(demos):
    absolute = make_windows(demos, [4], "keypoints", action_kind="absolute")
    delta = make_windows(demos, [4], "keypoints", action_kind="delta")
    t = int(delta.frame[10])
    np.testing.assert_allclose(
        delta.action[10, 0].numpy(), demos.actions[t] - demos.states[t, :2], atol=1e-4
    )
    np.testing.assert_allclose(
        delta_to_absolute(delta.action, delta.agent_pos), absolute.action, atol=1e-4
    )
    # The agent position at t is the keypoint observation's last two numbers at the last step.
    np.testing.assert_array_equal(delta.agent_pos.numpy(), delta.obs[:, -1, 18:].numpy())
    chunk = np.random.default_rng(0).uniform(0, 512, (3, 16, 2))
    pos = np.random.default_rng(1).uniform(0, 512, (3, 2))
    np.testing.assert_allclose(delta_to_absolute(absolute_to_delta(chunk, pos), pos), chunk)


# ----------------------------------------------------------------------------------- normaliser


def test_normalizer_range_round_trip_and_constant_features(tmp_path, demos):
    w = make_windows(demos, [0, 1, 2], "keypoints")
    norm = MinMaxNormalizer.fit(w.obs)
    y = norm.normalize(w.obs)
    flat = y.reshape(-1, 20)
    torch.testing.assert_close(flat.min(0).values, torch.full((20,), -1.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(flat.max(0).values, torch.full((20,), 1.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(norm.unnormalize(y), w.obs, atol=1e-3, rtol=0)

    x = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    const = MinMaxNormalizer.fit(x)
    torch.testing.assert_close(const.normalize(x), torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    torch.testing.assert_close(const.unnormalize(const.normalize(x)), x)

    torch.save({"norm": norm.state_dict()}, tmp_path / "n.pt")
    loaded = MinMaxNormalizer.from_state_dict(
        torch.load(tmp_path / "n.pt", weights_only=True)["norm"]
    )
    torch.testing.assert_close(loaded.normalize(w.obs), y)
    with pytest.raises(ValueError, match="last dimension 20"):
        norm.normalize(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="lacks"):
        MinMaxNormalizer.from_state_dict({"low": torch.zeros(2)})


# ----------------------------------------------------------------------------------- images


def test_rendered_images_are_cached_and_identical(isolated, demos):
    small = demos.subset([0])
    images = render_dataset_images(small, size=16, progress=False)
    assert images.shape == (small.n_frames, 16, 16, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[7], render_scene(small.states[7].astype(np.float64), 16))
    cached = list(data.pusht_cache_dir().glob("images_16px_*.npy"))
    assert len(cached) == 1
    hit = render_dataset_images(small, size=16, progress=False)
    assert isinstance(hit, np.memmap)
    np.testing.assert_array_equal(hit, images)
    np.testing.assert_array_equal(
        render_dataset_images(small, 16, cache=False, progress=False), images
    )
    render_dataset_images(demos.subset([1]), size=16, progress=False)
    assert len(list(data.pusht_cache_dir().glob("images_16px_*.npy"))) == 2  # keyed by the states


def test_center_crop_takes_the_middle_in_either_layout():
    hwc = torch.arange(2 * 96 * 96 * 3).reshape(2, 96, 96, 3)
    np.testing.assert_array_equal(center_crop(hwc, 84), hwc[:, 6:90, 6:90, :])
    chw = hwc.permute(0, 3, 1, 2)
    np.testing.assert_array_equal(center_crop(chw, 84), chw[:, :, 6:90, 6:90])
    with pytest.raises(ValueError, match="does not fit"):
        center_crop(hwc, 97)
    with pytest.raises(ValueError, match="channel axis"):
        center_crop(torch.zeros(2, 8, 8), 4)


def test_random_crop_windows_are_reproducible_and_shared_across_frames():
    # Pixel value encodes its (row, column), so a crop reveals its offset.
    rows = torch.arange(96)[:, None].expand(96, 96)
    cols = torch.arange(96)[None, :].expand(96, 96)
    grid = torch.stack([rows, cols, torch.zeros_like(rows)], dim=0)  # (3, 96, 96)
    images = grid.expand(8, 2, 3, 96, 96)  # batch 8, two frames, channels first
    crops = random_crop(images, 84, generator=torch.Generator().manual_seed(0))
    again = random_crop(images, 84, generator=torch.Generator().manual_seed(0))
    assert crops.shape == (8, 2, 3, 84, 84)
    torch.testing.assert_close(crops, again)
    tops, lefts = crops[:, :, 0, 0, 0], crops[:, :, 1, 0, 0]
    torch.testing.assert_close(tops[:, 0], tops[:, 1])  # both frames of a sample share the window
    assert tops.min() >= 0 and tops.max() <= 12 and lefts.max() <= 12
    assert len(set(zip(tops[:, 0].tolist(), lefts[:, 0].tolist(), strict=True))) > 1
    # Each crop is a contiguous window of the source.
    b = 3
    top, left = int(tops[b, 0]), int(lefts[b, 0])
    torch.testing.assert_close(crops[b], images[b, :, :, top : top + 84, left : left + 84])
    with pytest.raises(ValueError, match="batch axis"):
        random_crop(torch.zeros(96, 96, 3), 84)

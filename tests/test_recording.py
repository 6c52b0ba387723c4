"""Recorded episodes in the demonstrations' zarr layout: written, read back, added to a set."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.data import load_pusht, make_windows, read_pusht_store
from course_lib.recording import EpisodeRecorder, append_episode, concat_demos, write_pusht_store


@pytest.fixture(scope="module")
def two_demos():
    return load_pusht().subset([0, 5])


def test_a_store_written_reads_back_the_same(two_demos, tmp_path):
    path = write_pusht_store(two_demos, tmp_path / "copy.zarr")
    back = read_pusht_store(path)
    for name in ("states", "actions", "keypoints", "n_contacts", "episode_ends"):
        np.testing.assert_array_equal(getattr(back, name), getattr(two_demos, name), err_msg=name)
    quiet = two_demos.subset([1])
    quiet = type(quiet)(**{**vars(quiet), "n_contacts": np.zeros_like(quiet.n_contacts)})
    write_pusht_store(quiet, path)  # replaces, atomically; all-zero chunks are written too
    assert (path / "data" / "n_contacts" / "0.0").exists()
    assert read_pusht_store(path).n_episodes == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.zarr"]  # no temporary left


def test_own_episodes_join_a_training_set(two_demos, tmp_path):
    recorder = EpisodeRecorder()
    episode = two_demos.episode(1)
    for state, action, contacts in zip(
        episode["states"][:20], episode["actions"][:20], episode["n_contacts"][:20], strict=True
    ):
        recorder.record(state, action, contacts)
    mine = recorder.demos()
    np.testing.assert_allclose(mine.keypoints, episode["keypoints"][:20], atol=1e-2)
    stored = append_episode(tmp_path / "mine.zarr", mine)
    stored = append_episode(tmp_path / "mine.zarr", mine)
    assert stored.n_episodes == 2 and list(stored.episode_ends) == [20, 40]

    train = concat_demos(two_demos, stored)
    assert train.n_episodes == 4 and train.n_frames == two_demos.n_frames + 40
    np.testing.assert_array_equal(train.episode(3)["actions"], mine.actions)
    assert len(make_windows(train)) > len(make_windows(two_demos))
    with pytest.raises(ValueError, match="nothing recorded"):
        EpisodeRecorder().demos()

"""Your own PushT demonstrations: record episodes and store them in the demonstrations' layout.

A frame is recorded the way the Diffusion Policy demonstrations were: at 10 Hz, the state and
keypoints the player saw, the contact count of the step that led there, and the target the
player then commanded. Frame t + 1's state is the state after holding action t for one control
step, so replaying the actions from the first state gives the states back (``pusht.replay``).

Stores are zarr v2 groups with ``data/state`` (N, 5), ``data/action`` (N, 2),
``data/keypoint`` (N, 9, 2), ``data/n_contacts`` (N, 1) float32 and ``meta/episode_ends`` (E,)
int64 (exclusive ends), as ``data.read_pusht_store`` reads them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from course_lib.data import PushTDemos, read_pusht_store
from course_lib.pusht.geometry import keypoints


class EpisodeRecorder:
    """Frames of one episode: ``record(state, action, n_contacts)`` once per control step."""

    def __init__(self) -> None:
        self.states: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.n_contacts: list[float] = []

    def __len__(self) -> int:
        return len(self.states)

    def record(self, state: np.ndarray, action: np.ndarray, n_contacts: int) -> None:
        """Append the state seen, the target commanded next and the last step's contacts."""
        self.states.append(np.asarray(state, dtype=np.float32).reshape(5))
        self.actions.append(np.asarray(action, dtype=np.float32).reshape(2))
        self.n_contacts.append(float(n_contacts))

    def demos(self) -> PushTDemos:
        """The episode as a one-episode demonstration set."""
        if not self.states:
            raise ValueError("nothing recorded yet")
        states = np.stack(self.states)
        return PushTDemos(
            states=states,
            actions=np.stack(self.actions),
            keypoints=keypoints(states.astype(np.float64)).astype(np.float32),
            n_contacts=np.asarray(self.n_contacts, dtype=np.float32),
            episode_ends=np.array([len(states)], dtype=np.int64),
            source="recorded episode",
        )


def concat_demos(*sets: PushTDemos) -> PushTDemos:
    """The episodes of ``sets`` one after the other (a training set with your own added)."""
    if not sets:
        raise ValueError("give at least one demonstration set")
    offsets = np.cumsum([0] + [s.n_frames for s in sets[:-1]])
    return PushTDemos(
        states=np.concatenate([s.states for s in sets]),
        actions=np.concatenate([s.actions for s in sets]),
        keypoints=np.concatenate([s.keypoints for s in sets]),
        n_contacts=np.concatenate([s.n_contacts for s in sets]),
        episode_ends=np.concatenate(
            [s.episode_ends + off for s, off in zip(sets, offsets, strict=True)]
        ).astype(np.int64),
        source=" + ".join(s.source or "?" for s in sets),
    )


def write_pusht_store(demos: PushTDemos, path: str | os.PathLike) -> Path:
    """Write ``demos`` as a zarr v2 store in the demonstrations' layout; atomic (a temporary
    store, then a rename), replacing any store at ``path``."""
    import zarr

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
    arrays = {
        "data/state": demos.states.astype(np.float32),
        "data/action": demos.actions.astype(np.float32),
        "data/keypoint": demos.keypoints.astype(np.float32),
        "data/n_contacts": demos.n_contacts.astype(np.float32)[:, None],
        "meta/episode_ends": np.asarray(demos.episode_ends, dtype=np.int64),
    }
    for name, values in arrays.items():
        # Every chunk is written, even all-zero ones (no contacts), as in the demonstrations.
        array = group.create_array(
            name, shape=values.shape, dtype=values.dtype, config={"write_empty_chunks": True}
        )
        array[...] = values
    old = path.with_name(f".{path.name}.old")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def append_episode(path: str | os.PathLike, episode: PushTDemos) -> PushTDemos:
    """Add ``episode`` to the store at ``path`` (created if missing); return the whole store."""
    path = Path(path)
    demos = concat_demos(read_pusht_store(path), episode) if path.exists() else episode
    write_pusht_store(demos, path)
    return read_pusht_store(path)

"""The demonstration arrays held in memory, their episodes, and replays of them.

Frames are indexed globally, 0 .. N-1; episode k covers frames episode_ends[k-1] up to
episode_ends[k] - 1. state (N, 5) = agent x, agent y, block x, block y, block angle; action (N, 2) =
agent target, both in world pixels; action t is the target commanded at frame t, leading to frame
t + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib.pusht import constants as C
from course_lib.pusht.geometry import coverage_batch, keypoints, reward_from_coverage
from course_lib.pusht.replay import replay
from course_lib.pusht.reset import legacy_landing_state, legacy_raw_state, legacy_reset_state
from course_lib.pusht.symmetry import mirror_points, mirror_states


@dataclass(frozen=True, eq=False)
class PushTDemos:
    """The demonstration arrays, frame-indexed (see the module doc), with their episode ends.

    ``images`` is the full set's lazily read ``data/img`` zarr array (None for the low-dimensional
    copy); the course re-renders frames from the states instead (``render_dataset_images``).
    """

    states: np.ndarray  # (N, 5) float32
    actions: np.ndarray  # (N, 2) float32
    keypoints: np.ndarray  # (N, 9, 2) float32
    n_contacts: np.ndarray  # (N,) float32
    episode_ends: np.ndarray  # (E,) int64, exclusive
    source: str = ""
    images: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.states)
        expected = {
            "states": (n, 5),
            "actions": (n, 2),
            "keypoints": (n, C.N_KEYPOINTS, 2),
            "n_contacts": (n,),
        }
        for name, shape in expected.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"PushTDemos.{name} must have shape {shape}, got {got}")
        ends = np.asarray(self.episode_ends)
        if (
            ends.ndim != 1
            or len(ends) == 0
            or ends[-1] != n
            or np.any(np.diff(ends) <= 0)
            or ends[0] <= 0
        ):
            raise ValueError(
                f"episode_ends must be increasing positive frame counts ending at N={n}, got {ends}"
            )

    @property
    def n_frames(self) -> int:
        return len(self.states)

    @property
    def n_episodes(self) -> int:
        return len(self.episode_ends)

    @property
    def episode_starts(self) -> np.ndarray:
        return np.concatenate([[0], self.episode_ends[:-1]]).astype(np.int64)

    def episode_slices(self) -> list[slice]:
        """Frame slices of the episodes, in order."""
        return [
            slice(int(s), int(e))
            for s, e in zip(self.episode_starts, self.episode_ends, strict=True)
        ]

    def episode_lengths(self) -> np.ndarray:
        return np.diff(np.concatenate([[0], self.episode_ends])).astype(np.int64)

    def episode_ids(self) -> np.ndarray:
        """Episode of every frame, (N,) int64."""
        return np.repeat(np.arange(self.n_episodes), self.episode_lengths())

    def _check_episode(self, i: int) -> int:
        if not -self.n_episodes <= i < self.n_episodes:
            raise IndexError(f"episode {i} out of range for {self.n_episodes} episodes")
        return int(i) % self.n_episodes

    def episode(self, i: int) -> dict[str, np.ndarray]:
        """Arrays of episode ``i``: ``states``, ``actions``, ``keypoints``, ``n_contacts``."""
        sl = self.episode_slices()[self._check_episode(i)]
        return {
            "states": self.states[sl],
            "actions": self.actions[sl],
            "keypoints": self.keypoints[sl],
            "n_contacts": self.n_contacts[sl],
        }

    def mirrored(self) -> PushTDemos:
        """Every episode reflected across the goal T's axis (``course_lib.pusht.symmetry``):
        states and targets mirrored, keypoints recomputed from the mirrored states (the mirror
        permutes the 9 points); images are dropped."""
        states = mirror_states(self.states)
        return PushTDemos(
            states.astype(self.states.dtype),
            mirror_points(self.actions).astype(self.actions.dtype),
            keypoints(states).astype(self.keypoints.dtype),
            self.n_contacts.copy(),
            self.episode_ends.copy(),
            source=f"{self.source} (mirrored)",
        )

    def with_mirror(self) -> PushTDemos:
        """The episodes, then their mirror images: episode k + E is episode k mirrored."""
        mirror = self.mirrored()
        return PushTDemos(
            np.concatenate([self.states, mirror.states]),
            np.concatenate([self.actions, mirror.actions]),
            np.concatenate([self.keypoints, mirror.keypoints]),
            np.concatenate([self.n_contacts, mirror.n_contacts]),
            np.concatenate([self.episode_ends, self.episode_ends + self.n_frames]),
            source=f"{self.source} (with mirror images)",
        )

    def subset(self, episodes: Sequence[int]) -> PushTDemos:
        """A new set holding only ``episodes`` (in the given order); images are dropped."""
        slices = [self.episode_slices()[self._check_episode(i)] for i in episodes]
        if not slices:
            raise ValueError("subset needs at least one episode")
        take = np.concatenate([np.arange(sl.start, sl.stop) for sl in slices])
        lengths = [sl.stop - sl.start for sl in slices]
        return PushTDemos(
            self.states[take],
            self.actions[take],
            self.keypoints[take],
            self.n_contacts[take],
            np.cumsum(lengths).astype(np.int64),
            source=f"{self.source} (episodes {list(episodes)})",
        )


def split_episodes(
    n_episodes: int, val_fraction: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random split of episode ids into (train, val), both sorted; no episode is in both.

    ``round(val_fraction * n)`` episodes go to validation (at least 1 when the fraction is positive,
    at most n - 1).
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be positive, got {n_episodes}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = (
        0 if val_fraction == 0 else min(max(1, round(val_fraction * n_episodes)), n_episodes - 1)
    )
    order = np.random.default_rng(seed).permutation(n_episodes)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def episode_start_state(demos: PushTDemos, i: int, seed: int | None = None) -> np.ndarray:
    """The raw legacy start (5,) of episode ``i``, to pass to ``reset(options={"reset_to_state"})``.

    Diffusion Policy's reset for ``seed`` (default ``i``) when it lands on the stored first state
    within 1e-3 (true of all 206 episodes of the official set: episode k starts from seed k), else
    the legacy setter inverted on the stored first state, which is rounded to float32, so a replay
    from it can drift by a fraction of a pixel where contacts amplify the rounding.
    """
    first = demos.episode(i)["states"][0].astype(np.float64)
    candidate = legacy_reset_state(i if seed is None else seed)
    landed = legacy_landing_state(candidate)
    gap = np.abs(landed - first)
    gap[4] = abs((landed[4] - first[4] + np.pi) % (2 * np.pi) - np.pi)
    return candidate if gap.max() < 1e-3 else legacy_raw_state(first)


def episode_statistics(demos: PushTDemos) -> dict[str, np.ndarray]:
    """Per-episode ``length``, ``final_coverage`` (after replaying the last action, which is not
    stored), ``max_reward`` (over the replayed states) and ``start_coverage``; arrays of (E,)."""
    final, best, start = [], [], []
    for i in range(demos.n_episodes):
        states, _ = replay(episode_start_state(demos, i), demos.episode(i)["actions"])
        cov = coverage_batch(states)
        final.append(cov[-1])
        best.append(float(reward_from_coverage(cov.max())))
        start.append(cov[0])
    return {
        "length": demos.episode_lengths(),
        "final_coverage": np.array(final),
        "max_reward": np.array(best),
        "start_coverage": np.array(start),
    }

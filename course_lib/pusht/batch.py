"""A batch of PushT environments stepped together, for evaluating a policy on many seeds at once.

An environment that has ended (terminated, or truncated after ``max_steps``) is frozen: it is not
stepped again, its action is ignored (it may be NaN), and its last observation and reward are
repeated. ``done`` tells which have ended; ``max_reward`` holds each episode's score so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_lib.pusht import constants as C
from course_lib.pusht.env import PushTEnv
from course_lib.pusht.render import render_scene

#: Default side of the frames rendered for animations.
GIF_SIZE: int = 256


def _stack(observations: list[Any]) -> Any:
    """Stack per-environment observations: arrays along axis 0, dicts key by key."""
    if isinstance(observations[0], dict):
        return {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    return np.stack(observations)


class EnvBatch:
    """``n`` ``PushTEnv`` in lockstep; arrays carry a leading axis of length ``n``."""

    def __init__(
        self,
        n: int,
        obs_type: str = "keypoints",
        render_size: int = C.RENDER_SIZE,
        max_steps: int = C.MAX_STEPS,
        legacy_reset: bool = True,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        self.max_steps = max_steps
        self.envs = [
            PushTEnv(obs_type, legacy_reset=legacy_reset, render_size=render_size) for _ in range(n)
        ]
        self.done = np.ones(n, dtype=bool)
        self.n_steps = np.zeros(n, dtype=np.int64)
        self.max_reward = np.zeros(n)
        self._obs: list[Any] = [None] * n
        self._reward = np.zeros(n)
        self._terminated = np.zeros(n, dtype=bool)
        self._truncated = np.zeros(n, dtype=bool)
        self._info: list[dict[str, Any]] = [{}] * n

    def reset(
        self, seeds: Sequence[int] | None = None, states: np.ndarray | None = None
    ) -> np.ndarray | dict[str, np.ndarray]:
        """Reset all environments from ``seeds`` (n ints) or raw ``states`` (n, 5); stacked obs."""
        if (seeds is None) == (states is None):
            raise ValueError("pass exactly one of seeds (n ints) or states (n, 5)")
        starts = list(seeds) if seeds is not None else list(np.asarray(states, dtype=np.float64))
        if len(starts) != self.n:
            raise ValueError(f"need {self.n} seeds or states, got {len(starts)}")
        for i, (env, start) in enumerate(zip(self.envs, starts, strict=True)):
            if seeds is not None:
                self._obs[i], self._info[i] = env.reset(seed=int(start))
            else:
                self._obs[i], self._info[i] = env.reset(options={"reset_to_state": start})
            self._reward[i] = 0.0
        self.done[:] = False
        self._terminated[:] = False
        self._truncated[:] = False
        self.n_steps[:] = 0
        self.max_reward[:] = 0.0
        return _stack(self._obs)

    def step(
        self, actions: np.ndarray
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Step the environments still running with ``actions`` (n, 2); frozen ones repeat."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != (self.n, 2):
            raise ValueError(f"actions must have shape ({self.n}, 2), got {actions.shape}")
        for i in np.flatnonzero(~self.done):
            obs, reward, terminated, _, info = self.envs[i].step(actions[i])
            self.n_steps[i] += 1
            self._obs[i], self._reward[i], self._info[i] = obs, reward, info
            self._terminated[i] = terminated
            self._truncated[i] = not terminated and self.n_steps[i] >= self.max_steps
            self.max_reward[i] = max(self.max_reward[i], reward)
        self.done |= self._terminated | self._truncated
        return (
            _stack(self._obs),
            self._reward.copy(),
            self._terminated.copy(),
            self._truncated.copy(),
            self.info(),
        )

    def info(self) -> dict[str, np.ndarray]:
        """The last ``info`` of every environment, key by key, stacked (plus ``done``)."""
        keys = ("coverage", "is_success", "block_pose", "pos_agent", "n_contacts")
        out = {key: np.stack([np.asarray(inf[key]) for inf in self._info]) for key in keys}
        out["done"] = self.done.copy()
        return out

    def states(self) -> np.ndarray:
        """Raw states (n, 5)."""
        return np.stack([env.state for env in self.envs])

    def frame(self, i: int, size: int = GIF_SIZE, mark_action: bool = True) -> np.ndarray:
        """Rendered scene of environment ``i`` (size, size, 3) uint8, last action marked."""
        env = self.envs[i]
        return render_scene(env.state, size, env.latest_action if mark_action else None)

    def frames(self, size: int = GIF_SIZE, mark_actions: bool = True) -> np.ndarray:
        """Rendered scenes of all environments (n, size, size, 3) uint8 (for GIFs)."""
        return np.stack([self.frame(i, size, mark_actions) for i in range(self.n)])

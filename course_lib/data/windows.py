"""Training windows: per frame t, the last n_obs observations and the next ``horizon`` targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from course_lib.data.demos import PushTDemos
from course_lib.pusht import constants as C
from course_lib.pusht.observations import observe

ACTION_KINDS = ("absolute", "delta")


def absolute_to_delta(actions: Any, agent_pos: Any) -> Any:
    """delta_{t,i} = target_{t+i} - agent position at t, for actions (..., H, 2), agent (..., 2).

    Works on numpy arrays and torch tensors alike.
    """
    return actions - agent_pos[..., None, :]


def delta_to_absolute(deltas: Any, agent_pos: Any) -> Any:
    """target_{t+i} = delta_{t,i} + agent position at t (inverse of ``absolute_to_delta``)."""
    return deltas + agent_pos[..., None, :]


@dataclass
class Windows:
    """Training samples: one per frame t of the chosen episodes.

    ``obs`` (M, n_obs, D) holds frames t-n_obs+1 .. t: the ``observe`` vector for ``"state"`` and
    ``"keypoints"``, the agent position (D = 2) for the pixel kinds, whose frames are
    ``frame_index`` (M, n_obs) into ``render_dataset_images(demos)``. ``action`` (M, horizon, 2)
    holds the targets t .. t+horizon-1, absolute or as ``absolute_to_delta`` offsets from
    ``agent_pos`` (M, 2), the agent position at t. Frames outside the episode repeat its edge frame.
    ``episode`` and ``frame`` (M,) give each sample's episode id and global frame t.
    """

    obs: torch.Tensor
    action: torch.Tensor
    episode: torch.Tensor
    frame: torch.Tensor
    agent_pos: torch.Tensor
    frame_index: torch.Tensor | None
    obs_type: str
    action_kind: str
    n_obs: int
    horizon: int

    def __len__(self) -> int:
        return int(self.obs.shape[0])


def _window_indices(start: int, end: int, offsets: np.ndarray) -> np.ndarray:
    """Frame indices t + offsets for t in [start, end), clipped to the episode (edge padding)."""
    t = np.arange(start, end)[:, None]
    return np.clip(t + offsets[None, :], start, end - 1)


def make_windows(
    demos: PushTDemos,
    episodes: Sequence[int] | np.ndarray | None = None,
    obs_type: str = "keypoints",
    n_obs: int = C.N_OBS_STEPS,
    horizon: int = 16,
    action_kind: str = "absolute",
) -> Windows:
    """Cut the chosen episodes (default: all) into ``Windows``, all in memory."""
    C.validate_obs_type(obs_type)
    if action_kind not in ACTION_KINDS:
        raise ValueError(f"action_kind must be one of {ACTION_KINDS}, got {action_kind!r}")
    if n_obs < 1 or horizon < 1:
        raise ValueError(f"n_obs and horizon must be at least 1, got {n_obs} and {horizon}")
    ids = np.arange(demos.n_episodes) if episodes is None else np.asarray(episodes, dtype=np.int64)
    if ids.ndim != 1 or len(ids) == 0:
        raise ValueError(f"episodes must be a non-empty list of episode ids, got {episodes!r}")
    slices = [demos.episode_slices()[demos._check_episode(int(i))] for i in ids]
    obs_offsets = np.arange(-n_obs + 1, 1)
    act_offsets = np.arange(horizon)
    obs_idx = np.concatenate([_window_indices(s.start, s.stop, obs_offsets) for s in slices])
    act_idx = np.concatenate([_window_indices(s.start, s.stop, act_offsets) for s in slices])
    frame = np.concatenate([np.arange(s.start, s.stop) for s in slices])
    episode = np.concatenate(
        [np.full(s.stop - s.start, i) for s, i in zip(slices, ids, strict=True)]
    )

    states = demos.states.astype(np.float64)
    pixels = obs_type in ("pixels", "pixels_agent_pos")
    features = states[:, :2] if pixels else np.asarray(observe(states, obs_type))
    agent_pos = states[frame, :2]
    action = demos.actions.astype(np.float64)[act_idx]
    if action_kind == "delta":
        action = absolute_to_delta(action, agent_pos)
    return Windows(
        obs=torch.as_tensor(features[obs_idx], dtype=torch.float32),
        action=torch.as_tensor(action, dtype=torch.float32),
        episode=torch.as_tensor(episode, dtype=torch.int64),
        frame=torch.as_tensor(frame, dtype=torch.int64),
        agent_pos=torch.as_tensor(agent_pos, dtype=torch.float32),
        frame_index=torch.as_tensor(obs_idx, dtype=torch.int64) if pixels else None,
        obs_type=obs_type,
        action_kind=action_kind,
        n_obs=n_obs,
        horizon=horizon,
    )

"""Observations of a PushT state, computed from the raw state alone (no environment needed).

- ``"state"``: the 5-vector [agent_x, agent_y, block_x, block_y, angle] (float64, exact physics).
- ``"keypoints"``: the 9 block keypoints in the dataset's order, flattened (x0, y0, x1, y1, ...),
  then the agent (x, y): 20 numbers, float32.
- ``"pixels"``: the rendered scene, (render_size, render_size, 3) uint8.
- ``"pixels_agent_pos"``: ``{"pixels": ..., "agent_pos": (2,) float32}``.

Every kind accepts one state (5,) or a batch (n, 5) and keeps that leading dimension.
"""

from __future__ import annotations

import numpy as np

from course_lib.pusht import constants as C
from course_lib.pusht.geometry import keypoints
from course_lib.pusht.render import render_scene

Observation = np.ndarray | dict[str, np.ndarray]


def keypoint_obs(state: np.ndarray) -> np.ndarray:
    """The 20-number keypoint observation of states (..., 5), float32 (..., 20)."""
    state = np.asarray(state, dtype=np.float64)
    kp = keypoints(state)
    flat = kp.reshape(*kp.shape[:-2], 2 * C.N_KEYPOINTS)
    return np.concatenate([flat, state[..., :2]], axis=-1).astype(np.float32)


def _pixels(state: np.ndarray, render_size: int) -> np.ndarray:
    if state.ndim == 1:
        return render_scene(state, render_size)
    return np.stack([render_scene(s, render_size) for s in state])


def observe(
    state: np.ndarray, obs_type: str = "state", render_size: int = C.RENDER_SIZE
) -> Observation:
    """The ``obs_type`` observation of a raw state (5,) or states (n, 5); see the module doc."""
    C.validate_obs_type(obs_type)
    state = np.asarray(state, dtype=np.float64)
    if state.ndim not in (1, 2) or state.shape[-1] != C.STATE_DIM:
        raise ValueError(f"observe takes states of shape (5,) or (n, 5), got {state.shape}")
    if obs_type == "state":
        return state.copy()
    if obs_type == "keypoints":
        return keypoint_obs(state)
    pixels = _pixels(state, render_size)
    if obs_type == "pixels":
        return pixels
    return {"pixels": pixels, "agent_pos": state[..., :2].astype(np.float32)}

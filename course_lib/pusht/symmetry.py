"""The mirror symmetry of PushT: reflection across the goal T's axis, x + y = 512.

The goal pose (256, 256, pi/4) puts the T's stem along the direction (-1, 1) through (256, 256),
that is on the square's anti-diagonal x + y = 512. The reflection across that line,

    M(x, y) = (512 - y, 512 - x),

maps the square world onto itself and the goal T onto itself (the T is symmetric about its stem,
local x -> -x). A block at pose (x, y, theta) maps to the block at (M(x, y), pi/2 - theta): its
stem direction (-sin theta, cos theta) maps to M's linear part applied to it, (-cos theta, sin
theta), the stem direction at angle pi/2 - theta, and the mirrored local x axis is the symmetric
T's own. The agent (a disc) and its targets map by M. The dynamics (pymunk, PD control, no
gravity) commute with M, so a demonstration mirrored is a demonstration of the mirrored start, with
the same coverage at every step; only the walls break the symmetry by one pixel (they stand at 5
and 506, which M exchanges with 507 and 6).
"""

from __future__ import annotations

import math

import numpy as np

from course_lib.pusht import constants as C

#: The mirror line is x + y = MIRROR_SUM (through the goal position, along the goal's stem).
MIRROR_SUM: float = float(C.GOAL_POSE[0] + C.GOAL_POSE[1])


def mirror_points(points: np.ndarray) -> np.ndarray:
    """M(x, y) = (512 - y, 512 - x) on points (..., 2): agent positions, targets, keypoints."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (2,):
        raise ValueError(f"points must have shape (..., 2), got {points.shape}")
    return MIRROR_SUM - points[..., ::-1]


def mirror_states(states: np.ndarray) -> np.ndarray:
    """Mirrored raw states (..., 5): agent M(x, y), block M(x, y), block angle pi/2 - theta."""
    states = np.asarray(states, dtype=np.float64)
    if states.shape[-1:] != (C.STATE_DIM,):
        raise ValueError(f"states must have shape (..., {C.STATE_DIM}), got {states.shape}")
    out = np.empty_like(states)
    out[..., 0:2] = mirror_points(states[..., 0:2])
    out[..., 2:4] = mirror_points(states[..., 2:4])
    out[..., 4] = math.pi / 2 - states[..., 4]
    return out


__all__ = ["MIRROR_SUM", "mirror_points", "mirror_states"]

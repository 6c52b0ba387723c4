"""Start states: Diffusion Policy's seeded reset and the legacy order in which states are set.

Setting a state in the legacy order (block position, then angle) turns the block about its centre of
gravity c = (0, 45) in the block frame, so the block origin lands at

    p_landed = p + (I - R(theta)) c,

and an observed state fed back through the legacy setter lands somewhere else. ``legacy_raw_state``
inverts the map, giving the raw state whose legacy setting lands on an observed one.
"""

from __future__ import annotations

import math

import numpy as np

from course_lib.pusht import constants as C


def legacy_reset_state(seed: int) -> np.ndarray:
    """Diffusion Policy's raw start state for ``seed`` (set it in the legacy order), float64 (5,).

    ``rs = RandomState(seed)``; ``[randint(50, 450), randint(50, 450), randint(100, 400),
    randint(100, 400), randn() * 2 pi - pi]``.
    """
    rs = np.random.RandomState(seed)
    agent_lo, agent_hi = C.RESET_AGENT_RANGE
    block_lo, block_hi = C.RESET_BLOCK_RANGE
    return np.array(
        [
            rs.randint(agent_lo, agent_hi),
            rs.randint(agent_lo, agent_hi),
            rs.randint(block_lo, block_hi),
            rs.randint(block_lo, block_hi),
            rs.randn() * 2 * math.pi - math.pi,
        ],
        dtype=np.float64,
    )


def _cog_shift(angle: np.ndarray) -> np.ndarray:
    """(I - R(angle)) c for the block's centre of gravity c, shape (..., 2)."""
    cx, cy = C.BLOCK_CENTER_OF_GRAVITY
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([cx - (cos * cx - sin * cy), cy - (sin * cx + cos * cy)], axis=-1)


def legacy_landing_state(raw: np.ndarray) -> np.ndarray:
    """Where the legacy setter puts a raw state, before physics: block origin p + (I - R) c.

    The angle is reported mod 2 pi, as in observations. Works on (5,) or (n, 5).
    """
    raw = np.asarray(raw, dtype=np.float64)
    out = raw.copy()
    out[..., 2:4] = raw[..., 2:4] + _cog_shift(raw[..., 4])
    out[..., 4] = np.mod(raw[..., 4], 2 * math.pi)
    return out


def legacy_raw_state(observed: np.ndarray) -> np.ndarray:
    """The raw state whose legacy setting lands on ``observed`` (legacy_landing_state inverted)."""
    observed = np.asarray(observed, dtype=np.float64)
    out = observed.copy()
    out[..., 2:4] = observed[..., 2:4] - _cog_shift(observed[..., 4])
    return out

"""Block geometry: the T's polygons at a pose, its keypoints, and the coverage of the goal.

A point with block-frame coordinates l sits in the world at (x, y) + R(theta) l, with R the
counter-clockwise rotation matrix in pymunk's frame (y down on screen, so it looks clockwise).
Coverage = area(T at the block pose ∩ T at the goal pose) / area(T), in [0, 1].
"""

from __future__ import annotations

import numpy as np
import shapely

from course_lib.pusht import constants as C


def _poses(state: np.ndarray, name: str = "state") -> np.ndarray:
    """Block poses (..., 3) from states (..., 5), after a shape check."""
    arr = np.asarray(state, dtype=np.float64)
    if arr.shape[-1:] != (C.STATE_DIM,):
        raise ValueError(
            f"{name} must have last dimension 5 (agent xy, block xy, angle), got {arr.shape}"
        )
    return arr[..., 2:5]


def to_world(pose: np.ndarray, local: np.ndarray) -> np.ndarray:
    """World coordinates of block-frame points: (x, y) + R(theta) local.

    ``pose`` (..., 3), ``local`` (k, 2); returns (..., k, 2).
    """
    pose = np.asarray(pose, dtype=np.float64)
    cos = np.cos(pose[..., 2])[..., None]
    sin = np.sin(pose[..., 2])[..., None]
    lx, ly = local[:, 0], local[:, 1]
    wx = pose[..., 0:1] + cos * lx - sin * ly
    wy = pose[..., 1:2] + sin * lx + cos * ly
    return np.stack([wx, wy], axis=-1)


def block_polygons(pose: np.ndarray) -> np.ndarray:
    """Vertices of the bar and the stem at ``pose`` (..., 3): shape (..., 2, 4, 2)."""
    flat = to_world(pose, C.BLOCK_BOXES.reshape(-1, 2))
    return flat.reshape(*flat.shape[:-2], 2, 4, 2)


def keypoints(state: np.ndarray) -> np.ndarray:
    """The dataset's 9 keypoints of the block for states (5,) or (n, 5): (9, 2) or (n, 9, 2)."""
    return to_world(_poses(state), C.KEYPOINTS_LOCAL)


def _box_shapes(poses: np.ndarray) -> np.ndarray:
    """Shapely polygons of the bar and the stem at each pose (n, 3): array (n, 2)."""
    boxes = block_polygons(poses)  # (n, 2, 4, 2)
    return shapely.polygons(boxes.reshape(-1, 4, 2)).reshape(len(poses), 2)


_goal_boxes = _box_shapes(np.asarray(C.GOAL_POSE)[None])[0]
_GOAL_SHAPE = shapely.union(_goal_boxes[0], _goal_boxes[1])


def coverage_batch(states: np.ndarray) -> np.ndarray:
    """Coverage of the goal for states (n, 5), vectorised through shapely: float64 (n,).

    The bar and the stem only share an edge, so area(T ∩ goal) = sum over the two boxes of
    area(box ∩ goal T).
    """
    poses = _poses(states, "states").reshape(-1, 3)
    overlap = shapely.area(shapely.intersection(_box_shapes(poses), _GOAL_SHAPE)).sum(axis=1)
    return overlap / C.GOAL_AREA


def coverage(state: np.ndarray) -> float:
    """Coverage of the goal by the block for one state (5,): area(T ∩ goal T) / 6300."""
    arr = np.asarray(state, dtype=np.float64)
    if arr.shape != (C.STATE_DIM,):
        raise ValueError(
            f"coverage takes one state of shape (5,), got {arr.shape}; use coverage_batch"
        )
    return float(coverage_batch(arr[None])[0])


def reward_from_coverage(cov: np.ndarray | float) -> np.ndarray | float:
    """PushT reward clip(coverage / 0.95, 0, 1)."""
    return np.clip(np.asarray(cov) / C.SUCCESS_COVERAGE, 0.0, 1.0)

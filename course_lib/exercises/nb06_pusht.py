"""Exercises of notebook 06: the block's pose in the world, coverage, and the reward."""

from __future__ import annotations

import math

import numpy as np
import shapely

from course_lib.exercises import code_check as cc
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, NumberExercise
from course_lib.exercises.registry import register
from course_lib.pusht import GOAL_POSE, SUCCESS_COVERAGE, geometry
from course_lib.pusht import constants as C

_POSES = np.array([[256.0, 256.0, math.pi / 4], [300.0, 200.0, 0.0], [100.0, 400.0, -2.0]])


def to_world(pose, local):
    """World coordinates (k, 2) of block-frame points (k, 2): (x, y) + R(theta) local."""
    x, y, theta = pose
    c, s = math.cos(theta), math.sin(theta)
    local = np.asarray(local, dtype=np.float64)
    return np.stack(
        [x + c * local[:, 0] - s * local[:, 1], y + s * local[:, 0] + c * local[:, 1]], 1
    )


def _clockwise(pose, local):
    return to_world((pose[0], pose[1], -pose[2]), local)


@cc.tester
def _test_to_world(fn) -> None:
    """Against ``pusht.geometry.to_world`` at three poses; a mirrored rotation or a missing
    translation is named."""
    local = C.KEYPOINTS_LOCAL
    for pose in _POSES:
        want = geometry.to_world(pose, local)
        got = cc.array(cc.run(fn, pose.copy(), local.copy()), want.shape)
        if cc.mismatch(got, want, "") is None:
            continue
        where = f"At pose (x, y, theta) = ({pose[0]:g}, {pose[1]:g}, {pose[2]:.3g})"
        if cc.mismatch(got, _clockwise(pose, local), "") is None:
            raise cc.Failed(
                f"{where} your points are rotated by -theta: the rotation goes the "
                "wrong way (pymunk's angles are counter-clockwise in its frame)."
            )
        if cc.mismatch(got, local + pose[:2], "") is None:
            raise cc.Failed(f"{where} your points are shifted but not rotated by theta.")
        if cc.mismatch(got + pose[:2], want, "") is None:
            raise cc.Failed(f"{where} your points are off by the block's position (x, y).")
        cc.fail_if(cc.mismatch(got, want, f"{where} your output"))


block_to_world = CodeExercise(
    id="06.block-to-world",
    title="From the block's frame to the world",
    statement=(
        "Write `to_world(pose, local)` that maps block-frame points `local` (k, 2) to world "
        "coordinates (k, 2) for a block at `pose` = (x, y, theta): (x, y) + R(theta) local, with "
        "R(theta) the counter-clockwise rotation."
    ),
    hints=("R(theta) = [[cos theta, -sin theta], [sin theta, cos theta]], applied to each row.",),
    reference=to_world,
    tester=_test_to_world,
    success="your points match `pusht.geometry.to_world`",
    mistakes=(
        Mistake(_clockwise, "", expect="wrong way"),
        Mistake(
            lambda pose, local: to_world(pose, local) - np.asarray(pose[:2]), "", expect="position"
        ),
        Mistake(
            lambda pose, local: np.asarray(local) + np.asarray(pose[:2]), "", expect="not rotated"
        ),
    ),
)


def _block_shape(pose) -> shapely.Geometry:
    """The T at ``pose`` as one shapely polygon (bar and stem)."""
    boxes = geometry.block_polygons(np.asarray(pose, dtype=np.float64))
    return shapely.union(shapely.Polygon(boxes[0]), shapely.Polygon(boxes[1]))


def coverage_between(pose_a, pose_b):
    """area(T at pose_a ∩ T at pose_b) / area(T)."""
    overlap = shapely.intersection(_block_shape(pose_a), _block_shape(pose_b))
    return float(shapely.area(overlap)) / C.GOAL_AREA


def _pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    goal = np.asarray(GOAL_POSE, dtype=np.float64)
    return [
        (goal, goal),
        (goal + [20.0, -10.0, 0.0], goal),
        (goal + [5.0, 5.0, 0.4], goal),
        (np.array([200.0, 300.0, 1.0]), np.array([210.0, 290.0, 1.3])),
        (np.array([100.0, 100.0, 0.0]), goal),
    ]


@cc.tester
def _test_coverage(fn) -> None:
    """Five pose pairs, from identical to disjoint; also that pose_b = goal gives the env's
    coverage, which ``pusht.geometry.coverage`` computes."""
    for pose_a, pose_b in _pairs():
        want = coverage_between(pose_a, pose_b)
        got = cc.array(cc.run(fn, pose_a.copy(), pose_b.copy()))
        if got.size != 1:
            raise cc.Failed(f"your function returned shape {got.shape}; expected one number.")
        got = float(got.reshape(()))
        if abs(got - want) <= 1e-6:
            continue
        where = f"For poses {np.round(pose_a, 3).tolist()} and {np.round(pose_b, 3).tolist()}"
        union = float(shapely.area(shapely.union(_block_shape(pose_a), _block_shape(pose_b))))
        if union > 0 and abs(got - want * C.GOAL_AREA / union) <= 1e-6:
            raise cc.Failed(
                f"{where} you divided by the area of the union (IoU); coverage "
                "divides by the area of the T."
            )
        raise cc.Failed(f"{where} your coverage is {got:.4g}, the expected one is {want:.4g}.")


coverage = CodeExercise(
    id="06.coverage-two-poses",
    title="Coverage of one T by another",
    statement=(
        "Write `coverage_between(pose_a, pose_b)`: the area of the intersection of the T at "
        "`pose_a` with the T at `pose_b`, divided by the area of the T (a float in [0, 1]). "
        "`pusht.geometry.block_polygons(pose)` gives the bar and the stem as (2, 4, 2) vertices; "
        "`shapely` has polygons, unions, intersections and areas."
    ),
    hints=(
        "Build each T as shapely.union(Polygon(bar), Polygon(stem)); the T's area is 6300 px^2 "
        "(`pusht.constants.GOAL_AREA`).",
    ),
    reference=coverage_between,
    tester=_test_coverage,
    success="your coverage matches the environment's on five pose pairs",
    mistakes=(
        Mistake(
            lambda a, b: (
                coverage_between(a, b)
                * C.GOAL_AREA
                / shapely.area(shapely.union(_block_shape(a), _block_shape(b)))
            ),
            "",
            expect="union",
        ),
        Mistake(
            lambda a, b: (
                shapely.area(
                    shapely.intersection(
                        shapely.Polygon(geometry.block_polygons(np.asarray(a))[0]),
                        shapely.Polygon(geometry.block_polygons(np.asarray(b))[0]),
                    )
                )
                / C.GOAL_AREA
            ),
            "",
            expect="expected",
        ),
        Mistake(lambda a, b: np.array([0.5, 0.5]), "", expect="shape"),
    ),
)

reward_half = NumberExercise(
    id="06.coverage-for-half-reward",
    title="Reading the reward",
    statement=(
        "The reward is clip(coverage / 0.95, 0, 1). Which coverage earns a reward of exactly 0.5?"
    ),
    hints=("Invert coverage / 0.95 = 0.5.",),
    value=0.5 * SUCCESS_COVERAGE,
    mistakes=(
        Mistake(0.5, "The reward is not the coverage: it is divided by 0.95."),
        Mistake(0.5 / SUCCESS_COVERAGE, "Multiply by 0.95, do not divide."),
    ),
)

register(block_to_world, coverage, reward_half)

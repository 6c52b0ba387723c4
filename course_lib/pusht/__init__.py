"""The PushT environment of Diffusion Policy, rebuilt on pymunk 7, with its quirks (PUSHT.md).

Importing this package registers the gymnasium id ``"course_lib/PushT-v0"`` (300 steps).
"""

from __future__ import annotations

import gymnasium as gym

from course_lib.pusht.batch import EnvBatch
from course_lib.pusht.constants import (
    GOAL_POSE,
    KEYPOINTS_LOCAL,
    MAX_STEPS,
    N_ACTION_STEPS,
    N_OBS_STEPS,
    OBS_TYPES,
    SUCCESS_COVERAGE,
    TEST_SEEDS,
    WORLD_SIZE,
    evaluation_seeds,
)
from course_lib.pusht.env import PushTEnv
from course_lib.pusht.geometry import coverage, coverage_batch, keypoints
from course_lib.pusht.observations import observe
from course_lib.pusht.render import render_scene
from course_lib.pusht.replay import replay
from course_lib.pusht.reset import legacy_landing_state, legacy_raw_state, legacy_reset_state

ENV_ID = "course_lib/PushT-v0"

if ENV_ID not in gym.registry:
    gym.register(
        id=ENV_ID, entry_point="course_lib.pusht.env:PushTEnv", max_episode_steps=MAX_STEPS
    )

__all__ = [
    "ENV_ID",
    "GOAL_POSE",
    "KEYPOINTS_LOCAL",
    "MAX_STEPS",
    "N_ACTION_STEPS",
    "N_OBS_STEPS",
    "OBS_TYPES",
    "SUCCESS_COVERAGE",
    "TEST_SEEDS",
    "evaluation_seeds",
    "WORLD_SIZE",
    "EnvBatch",
    "PushTEnv",
    "coverage",
    "coverage_batch",
    "keypoints",
    "legacy_landing_state",
    "legacy_raw_state",
    "legacy_reset_state",
    "observe",
    "render_scene",
    "replay",
]

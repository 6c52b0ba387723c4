"""Exercises with instant checks, one registry for the whole course.

``EXERCISES[id]`` (ids like ``"02.vp-kernel-variance"``) has a ``statement``, ``hints``,
``solution()`` and ``check(answer) -> Verdict`` (``.ok``, ``.message``). In a notebook,
``check(id, answer)`` prints the verdict and returns it. Symbolic answers are compared by sympy
(:mod:`.sympy_compare`), code answers against the library's closed forms (:mod:`.code_check`).
The notebook modules ``nb01_ito`` ... ``nb10_beyond`` register the exercises; ``generate`` writes
the student notebooks.

With ``COURSE_EXERCISES_STRICT=1`` (set when the solution notebooks run under nbval) ``check``
raises on a wrong answer, so a solution that stopped passing fails the build.
"""

from __future__ import annotations

import os
from typing import Any

from course_lib.exercises import (  # noqa: F401  (each module registers its exercises)
    nb01_ito,
    nb02_vp,
    nb03_ve,
    nb04_cld,
    nb05_reverse,
    nb06_pusht,
    nb08_sampling,
    nb09_results,
    nb10_beyond,
)
from course_lib.exercises.core import Exercise, Mistake, Verdict
from course_lib.exercises.registry import EXERCISES

STRICT_ENV = "COURSE_EXERCISES_STRICT"


def check(exercise_id: str, answer: Any) -> Verdict:
    """Check ``answer`` for the exercise ``exercise_id``, print a friendly verdict, return it."""
    exercise = EXERCISES.get(exercise_id)
    if exercise is None:
        known = ", ".join(sorted(EXERCISES))
        raise KeyError(f"no exercise {exercise_id!r}; known ids: {known}")
    verdict = exercise.check(answer)
    mark = "✅" if verdict.ok else "❌"
    print(f"{mark} [{exercise_id}] {verdict}")
    if not verdict.ok and os.environ.get(STRICT_ENV, "") not in ("", "0"):
        raise AssertionError(
            f"{exercise_id}: the notebook's answer was rejected: {verdict.message}"
        )
    return verdict


def hint(exercise_id: str, level: int = 0) -> str:
    """The exercise's hint number ``level`` (0 first); the last one when ``level`` is too large."""
    hints = EXERCISES[exercise_id].hints
    text = hints[min(level, len(hints) - 1)]
    print(f"Hint {min(level, len(hints) - 1) + 1}/{len(hints)}: {text}")
    return text


__all__ = ["EXERCISES", "Exercise", "Mistake", "Verdict", "check", "hint"]

"""The registry: exercise id -> exercise, filled by the notebook modules (``nb01_ito`` ...)."""

from __future__ import annotations

from course_lib.exercises.core import Exercise

#: Every exercise by id, in course order (contract: used by checks outside the project).
EXERCISES: dict[str, Exercise] = {}


def register(*exercises: Exercise) -> None:
    """Add exercises; ids must be unique."""
    for exercise in exercises:
        if exercise.id in EXERCISES:
            raise ValueError(f"exercise id {exercise.id!r} is registered twice")
        EXERCISES[exercise.id] = exercise

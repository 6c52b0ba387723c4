"""Checks of the numbers a caller passes in, with one message for each kind of mistake."""

from __future__ import annotations

import math


def check_count(**values: object) -> None:
    """Each value must be an ``int`` >= 1 (a bool is not a count); a ``ValueError`` names the
    first that is not."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_positive(**values: float) -> None:
    """Each value must be a finite number > 0; a ``ValueError`` names the first that is not."""
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value}")

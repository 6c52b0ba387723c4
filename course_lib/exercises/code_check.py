"""Helpers for code exercises: call a student's function safely and say how its output is off.

Every helper returns a sentence for the student (or None when all is well); none raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_lib.exercises.core import NOT_YET
from course_lib.toy import convergence_order


class Failed(Exception):
    """Raised inside a tester to stop at the first problem; carries the message."""


def run(fn: Callable[..., Any], *args: Any, what: str = "your function", **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; an exception becomes :class:`Failed` with a readable message."""
    try:
        return fn(*args, **kwargs)
    except Failed:
        raise
    except Exception as err:
        raise Failed(f"{what} raised {type(err).__name__}: {err}") from None


def array(
    value: Any, shape: Sequence[int] | None = None, *, what: str = "your function"
) -> np.ndarray:
    """``value`` as a float64 array of ``shape``; a stub, None or a wrong shape is :class:`Failed`."""
    if value is Ellipsis:
        raise Failed(NOT_YET.replace("replace `...`", "replace `return ...`"))
    if value is None:
        raise Failed(f"{what} returned None: is a `return` missing?")
    try:
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Failed(f"{what} returned a {type(value).__name__}, not an array of numbers") from None
    if shape is not None and arr.shape != tuple(shape):
        raise Failed(f"{what} returned an array of shape {arr.shape}; expected {tuple(shape)}.")
    if not np.all(np.isfinite(arr)):
        raise Failed(f"{what} returned values that are not finite (nan or inf).")
    return arr


def mismatch(got: np.ndarray, want: np.ndarray, what: str, rtol: float = 1e-6) -> str | None:
    """None when ``got`` matches ``want``; else how it differs (sign, factor, largest error)."""
    scale = max(float(np.max(np.abs(want))), 1e-12)
    err = float(np.max(np.abs(got - want)))
    if err <= rtol * scale:
        return None
    if np.allclose(got, -want, rtol=rtol, atol=rtol * scale):
        return f"{what} has the wrong sign."
    mask = np.abs(want) > 1e-9 * scale
    if mask.any():
        ratio = got[mask] / want[mask]
        if np.allclose(ratio, ratio.flat[0], rtol=1e-6):
            return f"{what} is {ratio.flat[0]:.4g} times the expected value."
    return f"{what} is off: largest difference {err:.3g} (expected values up to {scale:.3g})."


def order(steps: Sequence[int], errors: Sequence[float]) -> float:
    """Measured order of convergence: slope of log(error) against log(steps), sign flipped."""
    return convergence_order(steps, [max(e, 1e-300) for e in errors])


def order_problem(measured: float, expected: float, what: str, tol: float = 0.25) -> str | None:
    """A sentence when the measured order is not the expected one."""
    if abs(measured - expected) <= tol:
        return None
    return f"measured order of {what}: {measured:.2f}, where {expected:g} was expected."


def tester(
    body: Callable[[Callable[..., Any]], None],
) -> Callable[[Callable[..., Any]], str | None]:
    """Wrap a test body that raises :class:`Failed` into a function returning the message."""

    def run_body(fn: Callable[..., Any]) -> str | None:
        try:
            body(fn)
        except Failed as failure:
            return str(failure)
        return None

    run_body.__doc__ = body.__doc__
    return run_body


def fail_if(problem: str | None) -> None:
    """Raise :class:`Failed` with ``problem`` unless it is None."""
    if problem is not None:
        raise Failed(problem)


def coefficient_problem(got: float, want: float, what: str) -> str | None:
    """Name a wrong scalar coefficient: its square or square root, its sign, a constant factor."""
    if abs(got - want) <= 1e-8 * max(abs(want), 1e-12):
        return None
    if abs(got + want) <= 1e-8 * abs(want):
        return f"{what} has the wrong sign."
    if want > 0 and abs(got - want**2) <= 1e-8 * want**2:
        return f"{what} is the square of the expected value (a variance where a std belongs?)."
    if want > 0 and got > 0 and abs(got - want**0.5) <= 1e-8 * want**0.5:
        return f"{what} is the square root of the expected value (a std where a variance belongs?)."
    return f"{what} is {got:.6g}; expected {want:.6g} (ratio {got / want:.4g})."

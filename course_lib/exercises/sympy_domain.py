"""The variables of a symbolic exercise and the numbers that test an answer.

A :class:`Domain` holds the exercise's symbols (with their assumptions), the range each is sampled
from, and its main variable. Expressions are evaluated at random points with 30 digits (mpmath) and
compared to a relative tolerance of 1e-10.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath
import sympy as sp

N_POINTS = 24
RTOL = 1e-10
_DIGITS = 30


@dataclass(frozen=True)
class Domain:
    """The variables of an exercise, with their assumptions and the ranges sampled for checks."""

    symbols: tuple[sp.Symbol, ...]
    ranges: dict[str, tuple[float, float]]
    #: The variable whose limits (-> 0, -> oo) and leading power are reported, e.g. t.
    main: str | None = None

    @property
    def names(self) -> dict[str, sp.Symbol]:
        return {s.name: s for s in self.symbols}

    def describe(self) -> str:
        """'t >= 0, gamma > 0' for the statement and messages."""
        parts = []
        for s in self.symbols:
            if s.is_positive:
                parts.append(f"{s.name} > 0")
            elif s.is_nonnegative:
                parts.append(f"{s.name} >= 0")
            elif s.is_real:
                parts.append(f"{s.name} real")
            else:
                parts.append(s.name)
        return ", ".join(parts)

    def points(self, n: int = N_POINTS, seed: int = 0) -> list[dict[sp.Symbol, sp.Rational]]:
        """n random points, each coordinate a short rational inside its range."""
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            point = {}
            for s in self.symbols:
                lo, hi = self.ranges.get(s.name, _default_range(s))
                if s.is_integer:
                    point[s] = sp.Integer(rng.randint(int(lo), int(hi)))
                else:
                    point[s] = sp.Rational(round(rng.uniform(lo, hi), 3)).limit_denominator(1000)
            out.append(point)
        return out


def _default_range(s: sp.Symbol) -> tuple[float, float]:
    if s.is_integer:
        return (1, 20)
    if s.is_positive:
        return (0.3, 3.0)
    if s.is_nonnegative:
        return (0.05, 3.0)
    return (-2.0, 2.0)


def evaluate(expr: sp.Expr, point: dict) -> complex | None:
    """expr at point with 30 digits; None where it is undefined or infinite."""
    return evaluate_all(expr, [point])[0]


def evaluate_all(expr: sp.Expr, points: Sequence[dict]) -> list[complex | None]:
    """expr at every point, through one mpmath function (fast), 30 significant digits."""
    if not points:
        return []
    symbols = list(points[0])
    try:
        fn = sp.lambdify(symbols, expr, modules="mpmath")
    except Exception:  # an expression mpmath cannot print: evaluate point by point with sympy
        fn = None
    out = []
    with mpmath.workdps(_DIGITS):
        for point in points:
            try:
                if fn is not None:
                    value = complex(
                        fn(*(mpmath.mpf(v.p) / v.q if v.is_Rational else v for v in point.values()))
                    )
                else:
                    value = complex(sp.N(expr.subs(point), _DIGITS))
            except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
                value = None
            if value is not None and (value != value or abs(value) == float("inf")):
                value = None
            out.append(value)
    return out


def close(a: complex | None, b: complex | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RTOL * max(abs(a), abs(b)) + 1e-25

"""Compare a student's sympy expression with a reference, and say where a wrong one differs.

Equivalence: the answer is evaluated at random points of the declared domain (30 digits); if it
agrees with the reference everywhere to 1e-10 relative, sympy is asked for a proof that the
difference vanishes (``symbolic.core.vanishes``). Accepted on a proof, or on agreement at all
``N_POINTS`` points when sympy cannot simplify the difference to zero (the verdict says which).
A wrong answer gets diagnostics: a constant factor or a sign, a term free of the main variable,
missing or unknown variables, the limits at 0 and infinity, the leading power near 0, and the
values at one sample point. The reference expression itself is never shown.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef

from course_lib.symbolic.core import vanishes

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


def parse_answer(answer: object, domain: Domain) -> tuple[sp.Expr | None, str]:
    """The answer as an expression in the domain's own symbols, or (None, a clear message).

    A student's ``Symbol("t")`` without assumptions is replaced by the exercise's ``t``.
    """
    if answer is None:
        return None, (
            "You gave None. Assign a sympy expression to the answer variable (a function that "
            "only prints, or a missing `return`, gives None)."
        )
    if isinstance(answer, str):
        return None, (
            f"You gave the string {answer!r}. Build the answer from sympy symbols instead, e.g. "
            f"`t = sp.Symbol('t', nonnegative=True)` and then `2 * t` (variables: "
            f"{domain.describe()})."
        )
    if isinstance(answer, bool) or callable(answer) and not isinstance(answer, sp.Basic):
        return None, f"Expected a sympy expression, got {type(answer).__name__}."
    if isinstance(answer, sp.MatrixBase | list | tuple | dict | set):
        return None, f"Expected one scalar expression, got a {type(answer).__name__}."
    if isinstance(answer, sp.Basic) and (answer.is_Relational or isinstance(answer, sp.Eq)):
        return None, "You gave an equation; give only the expression (its right-hand side)."
    try:
        expr = sp.sympify(answer, strict=True)
    except (sp.SympifyError, TypeError):
        return None, f"Expected a sympy expression, got {type(answer).__name__}."
    if not isinstance(expr, sp.Expr):
        return None, f"Expected a sympy expression, got {type(expr).__name__}."
    undefined = sorted({str(f) for f in expr.atoms(AppliedUndef)})
    if undefined:
        return None, (
            f"Your answer contains the undefined function(s) {', '.join(undefined)}; write the "
            f"answer with the variables {domain.describe()} only."
        )
    names = domain.names
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in names)
    if unknown:
        return None, (
            f"Your answer uses {', '.join(unknown)}, which is not a variable of this exercise "
            f"(the variables are {domain.describe()})."
        )
    return expr.xreplace({s: names[s.name] for s in expr.free_symbols}), ""


def evaluate(expr: sp.Expr, point: dict) -> complex | None:
    """expr at point with 30 digits; None where it is undefined or infinite."""
    return _evaluate_all(expr, [point])[0]


def _evaluate_all(expr: sp.Expr, points: Sequence[dict]) -> list[complex | None]:
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


def proves_zero(expr: sp.Expr) -> bool:
    """True when sympy shows that ``expr`` is zero: cheap rewritings first, then simplify."""
    cheap = (
        sp.expand,
        lambda e: sp.cancel(sp.expand(e)),
        lambda e: sp.expand(sp.powsimp(sp.expand(e.rewrite(sp.exp)), force=False)),
        lambda e: sp.cancel(sp.expand(e.rewrite(sp.exp))),
    )
    for attempt in cheap:
        try:
            if attempt(expr) == 0:
                return True
        except Exception:  # a rewriting sympy cannot do is no proof
            continue
    return vanishes(expr)


def _close(a: complex | None, b: complex | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RTOL * max(abs(a), abs(b)) + 1e-25


@dataclass(frozen=True)
class Comparison:
    """The outcome: ``equal``, how it was established, and findings for a wrong answer."""

    equal: bool
    how: str
    findings: tuple[str, ...] = ()


def agrees(expr: sp.Expr, reference: sp.Expr, domain: Domain) -> bool:
    """True when the two expressions agree at every sample point (no proof attempted)."""
    points = domain.points()
    got, want = _evaluate_all(expr, points), _evaluate_all(reference, points)
    return all(_close(a, b) for a, b in zip(got, want, strict=True))


def compare(expr: sp.Expr, reference: sp.Expr, domain: Domain) -> Comparison:
    """Is ``expr`` the reference? (see the module docstring)."""
    points = domain.points()
    got, want = _evaluate_all(expr, points), _evaluate_all(reference, points)
    if all(_close(a, b) for a, b in zip(got, want, strict=True)):
        if proves_zero(expr - reference):
            return Comparison(True, "sympy proves it equal to the expected expression")
        return Comparison(
            True,
            f"it agrees with the expected expression at {len(points)} random points to "
            f"{RTOL:g} (sympy could not simplify the difference to zero)",
        )
    return Comparison(False, "", tuple(diagnose(expr, reference, domain, points, got, want)))


def _fmt(value: complex | None) -> str:
    if value is None:
        return "undefined"
    if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
        return f"{value.real:.4g}{value.imag:+.4g}i"
    return f"{value.real:.6g}"


def _constant(values: Sequence[complex | None]) -> complex | None:
    vals = [v for v in values if v is not None]
    if len(vals) < 3 or any(not _close(v, vals[0]) for v in vals):
        return None
    return vals[0]


def _pretty_number(value: complex) -> str:
    real = sp.nsimplify(value.real, tolerance=1e-9, rational=True)
    if isinstance(real, sp.Rational) and real.q <= 12:
        return str(real)
    return f"{value.real:.4g}"


def diagnose(expr, reference, domain: Domain, points, got, want) -> list[str]:
    """Sentences that say where ``expr`` differs from the reference, without revealing it."""
    findings: list[str] = []
    ratios = [
        a / b if a is not None and b not in (None, 0) else None
        for a, b in zip(got, want, strict=False)
    ]
    factor = _constant(ratios)
    if factor is not None and abs(factor.imag) < 1e-12:
        if abs(factor) < 1e-12:
            findings.append("Your answer is zero.")
        elif _close(factor, -1):
            findings.append("Your answer has the wrong sign: it is minus the expected one.")
        else:
            findings.append(
                f"Your answer is off by a constant factor: it is {_pretty_number(factor)} times "
                "the expected one."
            )
    missing = sorted(s.name for s in reference.free_symbols - expr.free_symbols)
    if missing:
        findings.append(f"Your answer does not depend on {', '.join(missing)}, but it should.")
    extra = sorted(s.name for s in expr.free_symbols - reference.free_symbols)
    if extra:
        findings.append(f"Your answer depends on {', '.join(extra)}, but it should not.")
    main = domain.names.get(domain.main) if domain.main else None
    if main is not None and factor is None:
        findings += _main_variable_findings(expr, reference, main, domain, points)
    if not findings or factor is None:
        point = next(
            (p for p, a, b in zip(points, got, want, strict=False) if not _close(a, b)), points[0]
        )
        i = points.index(point)
        where = ", ".join(f"{s.name} = {v}" for s, v in point.items())
        findings.append(
            f"At {where} your answer is {_fmt(got[i])}, the expected value is {_fmt(want[i])}."
        )
    return findings


def _main_variable_findings(expr, reference, main, domain, points) -> list[str]:
    """A term free of the main variable; limits and leading powers at the first sample point.

    The other variables are fixed at the first sample point; limits and powers are read off
    the function at 1e-20, 1e-24 (for 0+) and 1e20, 1e24 (for +oo) with 80 digits.
    """
    out = []
    diff = expr - reference
    shifted = _evaluate_all(diff, [{**p, main: p[main] * 2 + 1} for p in points[:6]])
    base = _evaluate_all(diff, points[:6])
    if all(_close(a, b) for a, b in zip(shifted, base, strict=False)) and not all(
        _close(b, 0) for b in base
    ):
        out.append(
            f"Your answer differs from the expected one by a term that does not depend on "
            f"{main.name}."
        )
    others = {s: v for s, v in points[0].items() if s != main}
    at = ", ".join(f"{s.name} = {v}" for s, v in others.items())
    prefix = f"With {at}, as" if at else "As"
    got_fn, want_fn = (_of_main(e.subs(others), main) for e in (expr, reference))
    if got_fn is None or want_fn is None:
        return out
    for where in ("0", "oo"):
        got_lim, want_lim = _numeric_limit(got_fn, where), _numeric_limit(want_fn, where)
        if got_lim is None or want_lim is None:
            continue
        if not _same(got_lim, want_lim):
            out.append(
                f"{prefix} {main.name} -> {where} your answer tends to {_show(got_lim)}; it "
                f"should tend to {_show(want_lim)}."
            )
        elif where == "0" and got_lim == 0:
            got_pow, want_pow = _leading_power(got_fn), _leading_power(want_fn)
            if got_pow is not None and want_pow is not None and got_pow != want_pow:
                out.append(
                    f"Near {main.name} = 0 your answer grows like {main.name}^{got_pow}; the "
                    f"expected one like {main.name}^{want_pow}."
                )
    return out


#: Points standing for 0+ and +oo in the numeric limits (evaluated with 80 digits).
_NEAR = {"0": ("1e-20", "1e-24"), "oo": ("1e20", "1e24")}
_LIMIT_DIGITS = 80
_INF = float("inf")


def _of_main(expr: sp.Expr, main: sp.Symbol):
    try:
        return sp.lambdify([main], expr, modules="mpmath")
    except Exception:  # mpmath cannot print it: no limits then
        return None


def _at(fn, value: str) -> complex | None:
    with mpmath.workdps(_LIMIT_DIGITS):
        try:
            out = mpmath.mpc(fn(mpmath.mpf(value)))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return None
        if abs(out) > mpmath.mpf("1e300"):
            return complex(1e300 if out.real > 0 else -1e300)
        return complex(out)


def _numeric_limit(fn, where: str) -> complex | None:
    """The limit of a one-variable function at 0+ or +oo read off two far points: +-inf, 0, a
    value, or None when the two points disagree (no limit, or a convergence too slow to read)."""
    first, second = (_at(fn, value) for value in _NEAR[where])
    if first is None or second is None:
        return None
    if abs(first) > 1e15 and abs(second) >= abs(first) and first.real * second.real > 0:
        return complex(_INF if second.real > 0 else -_INF)
    if abs(second) < 1e-15 and abs(first) < 1e-10:
        return 0j
    if abs(first - second) <= 1e-8 * max(abs(first), abs(second)):
        return second
    return None


def _same(a: complex, b: complex) -> bool:
    if a == b:
        return True
    return all(abs(v) < _INF for v in (a, b)) and _close(a, b)


def _show(value: complex) -> str:
    if abs(value.real) == _INF:
        return "oo" if value.real > 0 else "-oo"
    return _pretty_number(value)


def _leading_power(fn) -> sp.Rational | None:
    """p in f ~ c x^p near 0, from the slope of log|f| between the two points near 0."""
    first, second = (_at(fn, value) for value in _NEAR["0"])
    if not first or not second:
        return None
    slope = math.log(abs(first) / abs(second)) / math.log(1e4)
    power = sp.Rational(round(slope * 2), 2)
    return power if abs(slope - float(power)) < 1e-3 else None

"""Where a wrong symbolic answer differs from the reference, said without revealing it.

Findings: a constant factor or a sign, variables missing or extra, a term free of the main
variable, the limits at 0+ and +oo and the leading power near 0 (read numerically off the function
at 1e-20, 1e-24 and 1e20, 1e24 with 80 digits, the other variables fixed at a sample point), and
the values of both at one sample point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import mpmath
import sympy as sp

from course_lib.exercises.sympy_domain import Domain, close, evaluate_all


def _fmt(value: complex | None) -> str:
    if value is None:
        return "undefined"
    if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
        return f"{value.real:.4g}{value.imag:+.4g}i"
    return f"{value.real:.6g}"


def _constant(values: Sequence[complex | None]) -> complex | None:
    vals = [v for v in values if v is not None]
    if len(vals) < 3 or any(not close(v, vals[0]) for v in vals):
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
        elif close(factor, -1):
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
            (p for p, a, b in zip(points, got, want, strict=False) if not close(a, b)), points[0]
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
    shifted = evaluate_all(diff, [{**p, main: p[main] * 2 + 1} for p in points[:6]])
    base = evaluate_all(diff, points[:6])
    if all(close(a, b) for a, b in zip(shifted, base, strict=False)) and not all(
        close(b, 0) for b in base
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
    return all(abs(v) < _INF for v in (a, b)) and close(a, b)


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

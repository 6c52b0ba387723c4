"""Compare a student's sympy expression with a reference (:mod:`.sympy_diagnose` says how a wrong
one differs; :mod:`.sympy_domain` holds the variables and the sample points).

Equivalence: the answer is evaluated at random points of the declared domain (30 digits); if it
agrees with the reference everywhere to 1e-10 relative, sympy is asked for a proof that the
difference vanishes (``symbolic.core.vanishes``). Accepted on a proof, or on agreement at all
``N_POINTS`` points when sympy cannot simplify the difference to zero (the verdict says which).
A string, None, a matrix, an equation, an undefined function or an unknown variable gets a clear
message from :func:`parse_answer` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.core.function import AppliedUndef

from course_lib.exercises.sympy_diagnose import diagnose
from course_lib.exercises.sympy_domain import N_POINTS, RTOL, Domain, close, evaluate_all
from course_lib.symbolic.core import vanishes

__all__ = ["N_POINTS", "Domain", "agrees", "compare", "parse_answer", "proves_zero"]


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


@dataclass(frozen=True)
class Comparison:
    """The outcome: ``equal``, how it was established, and findings for a wrong answer."""

    equal: bool
    how: str
    findings: tuple[str, ...] = ()


def agrees(expr: sp.Expr, reference: sp.Expr, domain: Domain) -> bool:
    """True when the two expressions agree at every sample point (no proof attempted)."""
    points = domain.points()
    got, want = evaluate_all(expr, points), evaluate_all(reference, points)
    return all(close(a, b) for a, b in zip(got, want, strict=True))


def compare(expr: sp.Expr, reference: sp.Expr, domain: Domain) -> Comparison:
    """Is ``expr`` the reference? (see the module docstring)."""
    points = domain.points()
    got, want = evaluate_all(expr, points), evaluate_all(reference, points)
    if all(close(a, b) for a, b in zip(got, want, strict=True)):
        if proves_zero(expr - reference):
            return Comparison(True, "sympy proves it equal to the expected expression")
        return Comparison(
            True,
            f"it agrees with the expected expression at {len(points)} random points to "
            f"{RTOL:g} (sympy could not simplify the difference to zero)",
        )
    return Comparison(False, "", tuple(diagnose(expr, reference, domain, points, got, want)))

"""The three kinds of exercise: a sympy expression, a number, a function (code).

Each kind turns a student's answer into a :class:`~course_lib.exercises.core.Verdict`; a typical
mistake that the answer matches adds its own hint in place of the general one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp

from course_lib.exercises.core import Exercise, Verdict, correct, with_hint, wrong
from course_lib.exercises.sympy_compare import Domain, agrees, compare, parse_answer


@dataclass(frozen=True, kw_only=True)
class SymbolicExercise(Exercise):
    """The answer is a sympy expression in ``domain``'s variables (assumptions stated)."""

    domain: Domain
    reference: Callable[[], sp.Expr]
    kind: str = "symbolic"

    def solution(self) -> sp.Expr:
        return self.reference()

    def _check(self, answer: Any) -> Verdict:
        expr, problem = parse_answer(answer, self.domain)
        if expr is None:
            return wrong(f"Not yet: {problem}")
        outcome = compare(expr, self.solution(), self.domain)
        if outcome.equal:
            return correct(f"Well done: {outcome.how}.")
        return with_hint(list(outcome.findings), self._hint_for(expr))

    def _hint_for(self, expr: sp.Expr) -> str:
        for mistake in self.mistakes:
            if agrees(expr, sp.sympify(mistake.answer), self.domain):
                return mistake.hint
        return self.hints[0]


def as_number(answer: Any) -> float | None:
    """A real number from int, float, numpy or sympy scalars and one-element tensors/arrays."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, numbers.Real):
        return float(answer)
    if isinstance(answer, sp.Basic) and answer.is_number and answer.is_real:
        return float(answer)
    numel = answer.numel() if hasattr(answer, "numel") else getattr(answer, "size", None)
    if numel == 1 and hasattr(answer, "item"):
        return as_number(answer.item())
    return None


@dataclass(frozen=True, kw_only=True)
class NumberExercise(Exercise):
    """The answer is a number, accepted within ``rtol`` of ``value``."""

    value: float
    rtol: float = 1e-6
    kind: str = "number"

    def solution(self) -> float:
        return self.value

    def _check(self, answer: Any) -> Verdict:
        got = as_number(answer)
        if got is None:
            return wrong(f"Not yet: expected a real number, got {type(answer).__name__}.")
        if not math.isfinite(got):
            return wrong(f"Not yet: your answer {got} is not a finite number.")
        if abs(got - self.value) <= self.rtol * abs(self.value):
            return correct(f"Well done: {got:g} is right.")
        hint = next(
            (m.hint for m in self.mistakes if abs(got - m.answer) <= 1e-9 * abs(m.answer) + 1e-12),
            self.hints[0],
        )
        if got == -self.value:
            finding = "Your answer has the wrong sign."
        else:
            finding = f"Your answer {got:g} is too {'large' if got > self.value else 'small'}."
        return with_hint([finding], hint)


@dataclass(frozen=True, kw_only=True)
class CodeExercise(Exercise):
    """The answer is a function; ``tester(fn)`` compares it with the library's closed forms.

    ``tester`` returns None when the function passes, else a sentence saying what is off.
    """

    reference: Callable[..., Any]
    tester: Callable[[Callable[..., Any]], str | None]
    success: str = "your function agrees with the library"
    kind: str = "code"

    def solution(self) -> Callable[..., Any]:
        return self.reference

    def _check(self, answer: Any) -> Verdict:
        if not callable(answer):
            return wrong(
                f"Not yet: expected a function (def ...), got {type(answer).__name__}. "
                f"Hint: {self.hints[0]}"
            )
        problem = self.tester(answer)
        if problem is None:
            return correct(f"Well done: {self.success}.")
        if problem.startswith("Not yet:"):  # a stub that still returns ...
            return wrong(problem)
        return with_hint([problem], self.hints[0])

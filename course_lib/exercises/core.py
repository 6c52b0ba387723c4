"""The exercise types shared by every notebook: a verdict, and an exercise with its checker.

An exercise carries a statement, hints, a reference ``solution()`` of the kind a student gives (a
sympy expression, a number or a callable) and ``check(answer) -> Verdict``. ``check`` never
raises: a stub (``...``), a wrong type or a checker error all become a message.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Ids are "NN.slug": the notebook number, then a short name in lower case and dashes.
ID_PATTERN = re.compile(r"^(0[0-9]|10)\.[a-z0-9]+(-[a-z0-9]+)*$")

NOT_YET = "Not yet: replace `...` with your answer, then run this cell again."


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``ok`` and a message for the student."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return ("Correct. " if self.ok else "") + self.message


def correct(message: str) -> Verdict:
    return Verdict(True, message)


def wrong(message: str) -> Verdict:
    return Verdict(False, message)


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer and the hint it earns (also used by the tests as a rejected case)."""

    answer: Any
    hint: str
    #: For code exercises: a word the feedback must contain (checked by the tests).
    expect: str = ""


@dataclass(frozen=True, kw_only=True)
class Exercise(abc.ABC):
    """One exercise. Subclasses implement :meth:`_check` for their kind of answer."""

    id: str
    title: str
    statement: str
    hints: tuple[str, ...]
    #: Typical mistakes: rejected with their hint.
    mistakes: tuple[Mistake, ...] = ()
    #: Other correct forms of the answer (accepted; the tests check that they are).
    equivalents: tuple[Any, ...] = field(default=())

    kind: str = "exercise"

    def __post_init__(self) -> None:
        if not ID_PATTERN.match(self.id):
            raise ValueError(f"exercise id {self.id!r} is not of the form 'NN.some-name'")
        if not self.hints:
            raise ValueError(f"exercise {self.id} needs at least one hint")

    @property
    def notebook(self) -> int:
        """The number of the notebook the exercise belongs to."""
        return int(self.id.split(".")[0])

    @abc.abstractmethod
    def solution(self) -> Any:
        """The reference answer, of the kind a student gives."""

    @abc.abstractmethod
    def _check(self, answer: Any) -> Verdict:
        """Compare a (non-stub) answer with the solution."""

    def check(self, answer: Any) -> Verdict:
        """The verdict on ``answer``; never raises (a stub ``...`` is 'not yet')."""
        if answer is Ellipsis:
            return wrong(NOT_YET)
        try:
            return self._check(answer)
        except Exception as err:  # a checker must never show a traceback to a student
            return wrong(
                f"Not yet: the checker could not evaluate your answer ({type(err).__name__}: "
                f"{err}). Hint: {self.hints[0]}"
            )


def with_hint(findings: list[str], hint: str) -> Verdict:
    """A 'not yet' verdict listing what differs, then one hint."""
    body = " ".join(f[0].upper() + f[1:] for f in findings if f)
    return wrong(f"Not yet. {body} Hint: {hint}".replace("  ", " "))


CheckFn = Callable[[Any], Verdict]

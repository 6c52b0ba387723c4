"""The exercise registry: every exercise accepts its solution and equivalent forms, rejects typical
mistakes with a useful message, and never raises on a stub, a wrong type or a failing function.

Parametrised over ``EXERCISES``, so a new exercise is tested as soon as it is registered.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp

from course_lib.exercises import EXERCISES, STRICT_ENV, check, hint
from course_lib.exercises import sympy_compare as sc
from course_lib.exercises.core import ID_PATTERN
from course_lib.exercises.kinds import CodeExercise, NumberExercise, SymbolicExercise

pytestmark = pytest.mark.usefixtures("one_thread")

IDS = sorted(EXERCISES)
SYMBOLIC = [i for i in IDS if isinstance(EXERCISES[i], SymbolicExercise)]
CODE = [i for i in IDS if isinstance(EXERCISES[i], CodeExercise)]
NUMBER = [i for i in IDS if isinstance(EXERCISES[i], NumberExercise)]


def test_registry_covers_the_course():
    assert len(EXERCISES) >= 30
    per_notebook = {n: sum(e.notebook == n for e in EXERCISES.values()) for n in range(11)}
    assert all(per_notebook[n] >= 3 for n in range(1, 6)), per_notebook
    assert per_notebook[7] == 0  # notebook 07 has no exercises
    assert set(IDS) == set(SYMBOLIC) | set(CODE) | set(NUMBER)
    for exercise_id, exercise in EXERCISES.items():
        assert ID_PATTERN.match(exercise_id) and exercise.id == exercise_id
        assert len(exercise.statement) > 40 and exercise.hints and exercise.title


@pytest.mark.parametrize("exercise_id", IDS)
def test_solution_is_accepted(exercise_id):
    exercise = EXERCISES[exercise_id]
    verdict = exercise.check(exercise.solution())
    assert verdict.ok, verdict.message
    assert verdict.message.startswith("Well done")


@pytest.mark.parametrize("exercise_id", IDS)
def test_stub_is_not_yet(exercise_id):
    verdict = EXERCISES[exercise_id].check(...)
    assert not verdict.ok and verdict.message.startswith("Not yet")


@pytest.mark.parametrize("exercise_id", SYMBOLIC)
def test_equivalent_forms_are_accepted(exercise_id):
    exercise = EXERCISES[exercise_id]
    assert len(exercise.equivalents) >= 2
    for form in exercise.equivalents:
        verdict = exercise.check(form)
        assert verdict.ok, (form, verdict.message)


@pytest.mark.parametrize("exercise_id", SYMBOLIC)
def test_symbolic_mistakes_are_diagnosed_without_the_solution(exercise_id):
    exercise = EXERCISES[exercise_id]
    assert len(exercise.mistakes) >= 3
    solution = exercise.solution()
    for mistake in exercise.mistakes:
        verdict = exercise.check(mistake.answer)
        assert not verdict.ok, mistake.answer
        assert verdict.message.startswith("Not yet.") and mistake.hint in verdict.message
        assert str(solution) not in verdict.message and sp.srepr(solution) not in verdict.message
        # at least one finding besides the hint: a factor, a sign, a limit, a value, a variable
        findings = verdict.message.split("Hint:")[0]
        assert re.search(r"factor|sign|tends to|grows like|your answer is|depend", findings)


@pytest.mark.parametrize("exercise_id", SYMBOLIC)
def test_student_symbols_without_assumptions_work(exercise_id):
    exercise = EXERCISES[exercise_id]
    solution = exercise.solution()
    plain = solution.xreplace({s: sp.Symbol(s.name) for s in solution.free_symbols})
    assert plain != solution or not solution.free_symbols
    verdict = exercise.check(plain)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize("exercise_id", SYMBOLIC)
@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("2*t", "string"),
        (None, "None"),
        ([1, 2], "scalar"),
        (sp.Matrix([1, 2]), "scalar"),
        (sp.Eq(sp.Symbol("y"), 1), "equation"),
        (sp.Function("f")(sp.Symbol("t")), "undefined function"),
        (np.sin, "expression"),
    ],
)
def test_symbolic_wrong_kinds_get_a_clear_message(exercise_id, answer, words):
    verdict = EXERCISES[exercise_id].check(answer)
    assert not verdict.ok and words in verdict.message


@pytest.mark.parametrize("exercise_id", SYMBOLIC)
def test_symbolic_unknown_variable_is_named(exercise_id):
    exercise = EXERCISES[exercise_id]
    verdict = exercise.check(exercise.solution() + sp.Symbol("zeta_9"))
    assert not verdict.ok and "zeta_9" in verdict.message


@pytest.mark.parametrize("exercise_id", CODE)
def test_broken_code_is_rejected_with_what_is_off(exercise_id):
    exercise = EXERCISES[exercise_id]
    assert len(exercise.mistakes) >= 2
    for mistake in exercise.mistakes:
        verdict = exercise.check(mistake.answer)
        assert not verdict.ok
        assert mistake.expect and mistake.expect in verdict.message, verdict.message


@pytest.mark.parametrize("exercise_id", CODE)
def test_code_that_fails_or_is_a_stub_gets_a_message(exercise_id):
    exercise = EXERCISES[exercise_id]

    def raises(*args, **kwargs):
        raise ZeroDivisionError("boom")

    def stub(*args, **kwargs):
        return ...

    def returns_none(*args, **kwargs):
        return None

    assert "ZeroDivisionError: boom" in exercise.check(raises).message
    assert exercise.check(stub).message.startswith("Not yet: replace `return ...`")
    assert "None" in exercise.check(returns_none).message
    for not_a_function in ("def f(x): ...", None, 3.0):
        verdict = exercise.check(not_a_function)
        assert not verdict.ok and "expected a function" in verdict.message


@pytest.mark.parametrize("exercise_id", NUMBER)
def test_numbers_in_any_form_and_their_mistakes(exercise_id):
    import torch

    exercise = EXERCISES[exercise_id]
    value = exercise.solution()
    for form in (value, np.float32(value), torch.tensor(value), sp.Float(value), np.array([value])):
        assert exercise.check(form).ok, form
    assert len(exercise.mistakes) >= 2
    for mistake in exercise.mistakes:
        verdict = exercise.check(mistake.answer)
        assert not verdict.ok and mistake.hint in verdict.message
    for wrong_kind in ("9", None, [1.0, 2.0], float("nan")):
        assert not exercise.check(wrong_kind).ok


def test_the_issue_s_typical_mistakes_get_specific_feedback():
    """Factor 2, sign, sigma^2 against sigma^2 - sigma_min^2, t against t^2."""
    s_min, s_max = sp.symbols("sigma_min sigma_max")
    t, gamma = sp.symbols("t gamma")
    sigma_t = s_min * (s_max / s_min) ** t
    paper = EXERCISES["03.ve-kernel-variance"].check(sigma_t**2).message
    assert "a term that does not depend on t" in paper and "should tend to 0" in paper
    assert "paper's variance" in paper
    sigma2 = 2 / gamma**2 * (gamma * t + sp.exp(-gamma * t) - 1)
    factor = EXERCISES["04.cld-sigma2"].check(sigma2 / 2).message
    assert "constant factor: it is 1/2 times" in factor
    sign = EXERCISES["04.cld-sigma2"].check(-sigma2).message
    assert "wrong sign" in sign
    power = EXERCISES["04.cld-small-t"].check(t).message
    assert "grows like t^1; the expected one like t^2" in power


def test_numeric_fallback_accepts_on_agreement_and_says_so(monkeypatch):
    monkeypatch.setattr(sc, "proves_zero", lambda expr: False)
    exercise = EXERCISES["04.cld-sigma2"]
    verdict = exercise.check(exercise.solution())
    assert verdict.ok and f"{sc.N_POINTS} random points" in verdict.message


def test_check_prints_and_strict_mode_raises(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    verdict = check("10.edm-heun-evaluations", 36)
    assert not verdict.ok and "❌ [10.edm-heun-evaluations] Not yet" in capsys.readouterr().out
    assert check("10.edm-heun-evaluations", 35).ok
    assert "✅" in capsys.readouterr().out
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(AssertionError, match="rejected"):
        check("10.edm-heun-evaluations", 36)
    with pytest.raises(KeyError, match="known ids"):
        check("99.nothing", 1)
    assert hint("02.vp-kernel-variance", 5) == EXERCISES["02.vp-kernel-variance"].hints[-1]

"""A student notebook runs wherever its solution notebook runs, with no exercise solved.

The student version differs from the solution notebook only in its solution cells (the given part
and one stub per checked name, ``make exercises``). So if no later cell reads a name that only a
solution part defines, every other cell sees what it sees in the solution notebook, which the
browser suite runs; the stubs and the "not yet" of their checks are covered by
``test_exercises_notebooks``. ``make test`` therefore runs one student notebook under nbval as a
smoke test instead of all of them (``make nbval-exercises`` still runs them all).
"""

from __future__ import annotations

import ast
from pathlib import Path

import jupytext
import pytest

from course_lib.exercises.generate import exercise_cells, split_solution

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.py"))


def _python(source: str) -> ast.Module:
    """A cell's Python, without IPython's magics and shell escapes."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def _bound(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def _read(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def solution_only_reads(nb) -> list[str]:
    """Cells after a solution cell (other than solution and check cells) that read a name its
    solution part binds and its given part does not: in the student notebook that name is a stub
    or missing. Conservative: a rebinding in between is not credited."""
    exercises = exercise_cells(nb)
    special = {e.solution_index for e in exercises} | {e.check_index for e in exercises}
    found = []
    for e in exercises:
        given, solution = split_solution(nb.cells[e.solution_index].source)
        solution_only = _bound(_python(solution)) - _bound(_python(given))
        for j in range(e.solution_index + 1, len(nb.cells)):
            cell = nb.cells[j]
            if cell.cell_type != "code" or j in special:
                continue
            read = _read(_python(cell.source)) & solution_only
            if read:
                found.append(f"cell {j} reads {sorted(read)} of {e.exercise_id}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_depends_on_a_solution(path):
    assert solution_only_reads(jupytext.read(path)) == []


def test_a_cell_reading_a_solution_is_found(tmp_path):
    source = tmp_path / "99_probe.py"
    source.write_text(
        '# %%\nimport math\n\n# %% tags=["solution"]\nimport numpy as np\n# ---- solution ----\n'
        "answer = math.pi\nhelper = 2\n\n# %%\ncheck('99.x', answer)\n\n# %%\nprint(helper, np)\n"
    )
    assert solution_only_reads(jupytext.read(source)) == ["cell 3 reads ['helper'] of 99.x"]

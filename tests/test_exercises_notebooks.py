"""The exercises inside the notebooks: every registered exercise sits in its notebook with a
solution cell that passes and a check cell; the generated student notebooks hold stubs that
report "not yet" without an exception; the generator is deterministic and refuses malformed cells.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jupytext
import nbformat
import pytest

from course_lib.exercises import EXERCISES
from course_lib.exercises.generate import (
    SOLUTION_TAG,
    SPLIT,
    STUB,
    exercise_cells,
    split_solution,
    stub_source,
    write_student_notebooks,
)

pytestmark = pytest.mark.usefixtures("one_thread")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.py"))
SOURCES = {path: jupytext.read(path) for path in NOTEBOOKS}
WITH_EXERCISES = [path for path, nb in SOURCES.items() if exercise_cells(nb)]


def _imports(nb: nbformat.NotebookNode, source: str) -> str:
    """The notebook's top-level import statements that bind a name ``source`` uses."""
    used = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.source.lstrip().startswith(("%", "!")):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                bound = {(alias.asname or alias.name).split(".")[0] for alias in node.names}
                if bound & used:
                    lines.append(ast.unparse(node))
    return "\n".join(dict.fromkeys(lines))


def test_every_exercise_sits_once_in_its_own_notebook():
    placed: dict[str, str] = {}
    for path, nb in SOURCES.items():
        for cells in exercise_cells(nb):
            assert cells.exercise_id not in placed, f"{cells.exercise_id} placed twice"
            placed[cells.exercise_id] = path.name
            assert path.name.startswith(cells.exercise_id.split(".")[0])
    assert set(placed) == set(EXERCISES)
    assert not any(path.name.startswith("07") for path in WITH_EXERCISES)


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_solution_cells_pass_and_stubs_say_not_yet(path):
    """Each solution cell, run on the notebook's imports alone, passes its check; its student
    stub runs and gets "not yet"."""
    nb = SOURCES[path]
    for cells in exercise_cells(nb):
        source = nb.cells[cells.solution_index].source
        imports = _imports(nb, source)
        assert "check(" in nb.cells[cells.check_index].source
        solved: dict = {}
        exec(compile(imports + "\n" + source, f"{path.name}:{cells.exercise_id}", "exec"), solved)
        stub: dict = {}
        exec(compile(imports + "\n" + stub_source(source, cells.names), "stub", "exec"), stub)
        exercise = EXERCISES[cells.exercise_id]
        for name in cells.names:
            verdict = exercise.check(solved[name])
            assert verdict.ok, (cells.exercise_id, verdict.message)
            stub_value = stub[name]
            if callable(stub_value):
                assert stub_value.__code__.co_consts  # a real function whose body is `return ...`
            verdict = exercise.check(stub_value)
            assert not verdict.ok and verdict.message.startswith("Not yet"), verdict.message


def test_student_notebooks_are_generated_fresh_and_deterministic(tmp_path):
    written = write_student_notebooks(NOTEBOOKS, tmp_path / "first")
    assert [p.stem for p in written] == [p.stem for p in WITH_EXERCISES]
    again = write_student_notebooks(NOTEBOOKS, tmp_path / "second")
    for first, second in zip(written, again, strict=True):
        assert first.read_text() == second.read_text()
    total = 0
    for path, source in zip(written, WITH_EXERCISES, strict=True):
        student = nbformat.read(path, as_version=4)
        original = SOURCES[source]
        assert source.name in student.cells[0].source  # the banner names the source
        answers = [c for c in student.cells if "answer" in c.metadata.get("tags", [])]
        assert not any(SOLUTION_TAG in c.metadata.get("tags", []) for c in student.cells)
        assert len(answers) == len(exercise_cells(original))
        for cells, answer in zip(exercise_cells(original), answers, strict=True):
            solution_part = split_solution(original.cells[cells.solution_index].source)[1]
            body = [
                line
                for line in solution_part.splitlines()
                if ("return" in line or "=" in line) and not line.startswith("def ")
            ]
            assert STUB in answer.source and SPLIT not in answer.source
            assert not any(line in answer.source for line in body if line.strip())
        total += len(answers)
    assert total == len(EXERCISES)


def _write(tmp_path: Path, cells: str) -> Path:
    header = "# %% [markdown]\n# Title\n\n"
    path = tmp_path / "99_probe.py"
    path.write_text(header + cells)
    return path


def test_generator_refuses_malformed_exercises(tmp_path):
    lonely = _write(tmp_path, '# %% tags=["solution"]\nanswer = 1\n\n# %%\nprint(answer)\n')
    with pytest.raises(ValueError, match="not followed by a check"):
        write_student_notebooks([lonely], tmp_path / "out")
    undefined = _write(tmp_path, '# %% tags=["solution"]\nx = 1\n\n# %%\ncheck("99.a", answer)\n')
    with pytest.raises(ValueError, match="never defines"):
        write_student_notebooks([undefined], tmp_path / "out")
    fine = _write(
        tmp_path,
        f'# %% tags=["solution"]\ngiven = 2\n{SPLIT}\nanswer = given * 3\n\n# %%\n'
        'verdict = check("99.a", answer)\n',
    )
    (written,) = write_student_notebooks([fine], tmp_path / "out")
    cell = nbformat.read(written, as_version=4).cells[2]
    assert cell.source == f"given = 2\nanswer = {STUB}\n"

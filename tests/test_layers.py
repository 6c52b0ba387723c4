"""The layers of ARCHITECTURE.md, read from the code: no module imports from a layer below it."""

from __future__ import annotations

import ast
from pathlib import Path

import course_lib

ROOT = Path(course_lib.__file__).parent

#: ARCHITECTURE.md's table, top to bottom: a unit imports only from its own layer or higher ones.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config", "arguments", "outputs", "run_lock", "metrics", "paper", "checkpoints", "nets"),
    ("sdes", "symbolic", "pusht"),
    ("solvers", "data", "distributed"),
    ("toy",),
    ("policy",),
    ("shipped", "train", "evaluate", "recording"),
    ("recipes", "tables", "analysis", "exercises"),
    ("plots",),
    ("reproduce",),
    ("widgets", "bench"),
    ("__main__", "__init__"),
)
#: Presentation draws what it is given: these never import the runs that produce results.
NEVER = {"plots": {"train", "evaluate", "reproduce", "recipes"}}
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _unit(path: Path) -> str:
    """The unit of a source file: its top-level package or module under course_lib."""
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> set[str]:
    units = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "course_lib":
                names = [f"course_lib.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        units |= {n.split(".")[1] for n in names if n.startswith("course_lib.")}
    return units


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in ROOT.rglob("*.py")}
    assert units <= set(RANK), f"add {sorted(units - set(RANK))} to LAYERS and ARCHITECTURE.md"


def test_imports_only_run_up_the_layers():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        unit = _unit(path)
        for target in _imported_units(path) - {unit}:
            if target in RANK and RANK[target] > RANK[unit]:
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
            if target in NEVER.get(unit, ()):
                wrong.append(f"{path.relative_to(ROOT)} imports {target} (never)")
    assert not wrong, "imports that run back down the layers:\n" + "\n".join(wrong)

"""Result tables: the one reader and the one Markdown writer.

A table file (``figures/table1.json``, ``figures/table1_corrected.json``, written by
``reproduce``) holds ``{"episodes": n, "paper": PAPER_TABLE1, "results": {sde: {solver: cell}}}``;
a cell holds ``evaluate``'s metrics (``mean_score``, ``score_ci``, ``success_rate``,
``success_ci``, ``mean_final_coverage``, ``smoothness``, ``latency_ms``, ``steps``).

- :func:`read_table` is the reader (a clear error when ``make reproduce`` has not run);
- :func:`markdown_table` is the writer of every Markdown table the course prints;
- :func:`table1_markdown` lays result cells beside the paper's Table 1 (:mod:`course_lib.paper`),
  :func:`compare_cells` sets each corrected process beside the paper's row it replaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_lib import config, sdes
from course_lib.paper import CORRECTION_OF, PAPER_TABLE1
from course_lib.solvers import solver_info, solver_names

#: The table of the paper's processes and the one with the corrected processes beside them.
TABLE1 = "table1.json"
CORRECTED_TABLE = "table1_corrected.json"
#: A score difference counted as a change: about two standard errors for 50 episodes
#: (CALIBRATION.md measures 0.02-0.03 for one standard error).
NOTABLE_CHANGE = 0.05
#: The metrics a table cell keeps of ``evaluate``'s result.
CELL_KEYS = (
    "mean_score",
    "score_ci",
    "success_rate",
    "success_ci",
    "mean_final_coverage",
    "smoothness",
    "latency_ms",
    "steps",
)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def table_path(name: str | Path = CORRECTED_TABLE) -> Path:
    """A bare file name is looked for in ``config.FIGURES_DIR``; a path is taken as it is."""
    name = Path(name)
    return name if name.parent != Path() else config.FIGURES_DIR / name


def read_table(name: str | Path = CORRECTED_TABLE, *, missing_ok: bool = False) -> dict[str, Any]:
    """The payload of a table file (see the module doc).

    A missing file raises ``FileNotFoundError`` saying how to make it, or gives an empty table
    (``results`` {}) with ``missing_ok``; a file without ``episodes`` and ``results`` is an error.
    """
    path = table_path(name)
    if not path.is_file():
        if missing_ok:
            return {"episodes": None, "paper": PAPER_TABLE1, "results": {}}
        raise FileNotFoundError(
            f"{path} does not exist: run `make reproduce` (python -m course_lib reproduce) to "
            "train and evaluate every process and write the tables"
        )
    payload = json.loads(path.read_text())
    missing = {"episodes", "results"} - set(payload)
    if missing:
        raise ValueError(f"{path} lacks the keys {sorted(missing)}; rerun `make reproduce`")
    return payload


def cell(result: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics a table keeps of one ``evaluate`` result (older results have no intervals)."""
    return {k: result[k] for k in CELL_KEYS if k in result}


def paper_score(sde: str, solver: str) -> float | None:
    """The paper's Table 1 value of the cell, for a corrected process that of the row it replaces."""
    paper_row = next((p for p, c in CORRECTION_OF.items() if c == sde), sde)
    return PAPER_TABLE1.get(paper_row, {}).get(solver)


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table: the header, the rule, one line per row (cells as ``str``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns: {row}")
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _fmt(value: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if value is None else fmt.format(value)


def _interval(bounds: Sequence[float] | None, fmt: str) -> str:
    """' [low, high]' for a cell's interval, or nothing for results written before intervals."""
    if not bounds:
        return ""
    return " [" + ", ".join(fmt.format(b) for b in bounds) + "]"


#: The columns of :func:`table1_markdown`.
TABLE1_HEADER = (
    "SDE",
    "solver",
    "N",
    "ours: score",
    "paper",
    "ours - paper",
    "success",
    "final coverage",
    "smoothness (px²)",
    "latency (ms)",
)


def table1_markdown(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]], names: Iterable[str]
) -> str:
    """One row per (SDE, solver) cell of ``results`` for the SDEs ``names``: our score with its
    95 % interval, the paper's value (:func:`paper_score`) and the difference, success rate with its
    interval, final coverage, smoothness and latency."""
    rows = []
    for sde in names:
        for solver, c in results.get(sde, {}).items():
            paper = paper_score(sde, solver)
            diff = None if paper is None else c["mean_score"] - paper
            rows.append(
                (
                    sdes.label(sde),
                    solver_info(solver).label,
                    c["steps"],
                    f"**{c['mean_score']:.3f}**" + _interval(c.get("score_ci"), "{:.2f}"),
                    _fmt(paper),
                    _fmt(diff, "{:+.3f}"),
                    f"{c['success_rate']:.0%}" + _interval(c.get("success_ci"), "{:.0%}"),
                    f"{c['mean_final_coverage']:.3f}",
                    f"{c['smoothness']:.1f}",
                    f"{c['latency_ms']:.1f}",
                )
            )
    return markdown_table(TABLE1_HEADER, rows)


def variance_table_markdown(steps_list: Sequence[int], values: Mapping[str, np.ndarray]) -> str:
    """One row per entry of ``values`` (not ``"target"``), one column per N; ``"target"`` last."""
    rows = [
        (label, *(f"{v:.4g}" for v in np.asarray(row)))
        for label, row in values.items()
        if label != "target"
    ]
    if "target" in values:
        rows.append(("target", *(f"{float(values['target']):.4g}" for _ in steps_list)))
    return markdown_table(("sampler", *(f"N = {n}" for n in steps_list)), rows)


# ---------------------------------------------------------------------------------------------
# the corrected processes beside the paper's
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellComparison:
    """One (process, solver) cell: the paper's score, ours for the paper's process and for its
    correction (``None`` where a cell does not exist)."""

    paper_sde: str
    corrected_sde: str
    solver: str
    paper: float | None
    reproduced: float | None
    corrected: float | None
    corrected_success: float | None

    @property
    def gain_over_paper(self) -> float | None:
        return None if self.paper is None or self.corrected is None else self.corrected - self.paper

    @property
    def gain_over_reproduced(self) -> float | None:
        if (
            self.reproduced is None
            or self.corrected is None
            or self.corrected_sde == self.paper_sde
        ):
            return None
        return self.corrected - self.reproduced


def compare_cells(payload: Mapping[str, Any]) -> list[CellComparison]:
    """Every cell of the paper's Table 1 and of its corrected processes, side by side."""
    results = payload["results"]
    rows = []
    for paper_sde, corrected_sde in CORRECTION_OF.items():
        paper_row = PAPER_TABLE1.get(paper_sde, {})
        ours, fixed = results.get(paper_sde, {}), results.get(corrected_sde, {})
        for solver in solver_names():
            if solver not in paper_row and solver not in ours and solver not in fixed:
                continue
            c = fixed.get(solver)
            rows.append(
                CellComparison(
                    paper_sde=paper_sde,
                    corrected_sde=corrected_sde,
                    solver=solver,
                    paper=paper_row.get(solver),
                    reproduced=ours[solver]["mean_score"] if solver in ours else None,
                    corrected=c["mean_score"] if c else None,
                    corrected_success=c["success_rate"] if c else None,
                )
            )
    return rows


def comparison_markdown(rows: Iterable[CellComparison]) -> str:
    """The comparison as a Markdown table (mean score; success rate of the corrected cell)."""
    header = (
        "paper's SDE",
        "solver",
        "paper",
        "ours, paper's SDE",
        "corrected SDE",
        "ours, corrected",
        "success",
        "gain over paper",
        "gain over ours",
    )
    return markdown_table(
        header,
        [
            (
                sdes.label(r.paper_sde),
                r.solver,
                _fmt(r.paper),
                _fmt(r.reproduced),
                sdes.label(r.corrected_sde),
                _fmt(r.corrected),
                _fmt(r.corrected_success, "{:.0%}"),
                _fmt(r.gain_over_paper, "{:+.3f}"),
                _fmt(r.gain_over_reproduced, "{:+.3f}"),
            )
            for r in rows
        ],
    )


def improvement_summary(
    rows: Iterable[CellComparison], threshold: float = NOTABLE_CHANGE
) -> list[str]:
    """One sentence per cell with a paper value and a corrected value, largest gain first."""
    scored = [r for r in rows if r.gain_over_paper is not None]
    scored.sort(key=lambda r: r.gain_over_paper, reverse=True)
    sentences = []
    for r in scored:
        gain = r.gain_over_paper
        verdict = (
            "improved" if gain > threshold else ("worse" if gain < -threshold else "unchanged")
        )
        text = (
            f"{sdes.label(r.paper_sde)} {r.solver}: paper {r.paper:.3f} -> {sdes.label(r.corrected_sde)} "
            f"{r.corrected:.3f} ({gain:+.3f}, {verdict} at the ±{threshold:g} noise level)"
        )
        if r.gain_over_reproduced is not None:
            text += (
                f"; {r.gain_over_reproduced:+.3f} over the paper's {sdes.label(r.paper_sde)} "
                "trained here"
            )
        sentences.append(text)
    return sentences

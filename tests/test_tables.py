"""Result tables: the one reader, the one Markdown writer, Table 1 beside the paper's and the
corrected processes beside the rows they replace."""

from __future__ import annotations

import json

import numpy as np
import pytest

from course_lib import config, tables
from course_lib.paper import CORRECTION_OF, PAPER_TABLE1


def test_markdown_table_writes_header_rule_and_rows():
    text = tables.markdown_table(["a", "b"], [(1, "x"), ("–", 2.5)])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| – | 2.5 |"]
    with pytest.raises(ValueError, match="2 columns"):
        tables.markdown_table(["a", "b"], [(1,)])


def test_table1_rows_carry_intervals_the_papers_value_and_the_difference():
    cell = {
        "mean_score": 0.9,
        "score_ci": [0.85, 0.95],
        "success_rate": 0.4,
        "success_ci": [0.25, 0.55],
        "mean_final_coverage": 0.8,
        "smoothness": 12.0,
        "latency_ms": 3.0,
        "steps": 25,
    }
    text = tables.table1_markdown(
        {"ve-edm": {"heun": cell}, "vp": {"sscs": cell}}, ["ve-edm", "vp"]
    )
    edm, vp = text.splitlines()[2:]
    paper = PAPER_TABLE1["ve"]["heun"]  # VE-EDM sits beside the paper's VE row
    assert f"| {paper:.3f} | {0.9 - paper:+.3f} |" in edm
    assert "**0.900** [0.85, 0.95]" in edm and "40% [25%, 55%]" in edm
    assert "| – | – |" in vp  # no paper cell
    old = {k: v for k, v in cell.items() if not k.endswith("_ci")}  # results before intervals
    assert "**0.900** |" in tables.table1_markdown({"vp": {"em": old}}, ["vp"])


def test_read_table_finds_bare_names_in_the_figures_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "FIGURES_DIR", tmp_path)
    assert tables.read_table(tables.TABLE1, missing_ok=True)["results"] == {}
    (tmp_path / tables.TABLE1).write_text(json.dumps({"episodes": 3, "results": {"vp": {}}}))
    assert tables.read_table(tables.TABLE1)["episodes"] == 3
    (tmp_path / "broken.json").write_text(json.dumps({"results": {}}))
    with pytest.raises(ValueError, match="episodes"):
        tables.read_table("broken.json")


def test_variance_table_lists_every_sampler_then_the_target():
    text = tables.variance_table_markdown([10, 20], {"a": np.array([0.1, 0.2]), "target": 0.25})
    assert text.splitlines()[0] == "| sampler | N = 10 | N = 20 |"
    assert text.splitlines()[-1] == "| target | 0.25 | 0.25 |"


def _payload(tmp_path):
    """A table in the reproduce format whose corrected cells are the paper's plus 0.1 * index."""
    results = {}
    for i, (paper_sde, solvers) in enumerate(PAPER_TABLE1.items()):
        for sde in {paper_sde, CORRECTION_OF[paper_sde]}:
            bump = 0.1 * (i + 1) if sde != paper_sde else 0.0
            results[sde] = {
                s: {"mean_score": v + bump, "success_rate": 0.5} for s, v in solvers.items()
            }
    path = tmp_path / "table1_corrected.json"
    path.write_text(json.dumps({"episodes": 50, "paper": PAPER_TABLE1, "results": results}))
    return path


def test_table_comparison_reports_the_gains_of_the_file(tmp_path):
    rows = tables.compare_cells(tables.read_table(_payload(tmp_path)))
    by_cell = {(r.paper_sde, r.solver): r for r in rows}
    assert set(by_cell) >= {(s, v) for s, cells in PAPER_TABLE1.items() for v in cells}
    assert by_cell[("ve", "euler")].gain_over_paper == pytest.approx(0.2)
    assert by_cell[("cld", "em")].gain_over_reproduced == pytest.approx(0.3)
    assert by_cell[("vp", "heun")].gain_over_reproduced == pytest.approx(0.1)  # VP-EDM
    sentences = tables.improvement_summary(rows)
    assert len(sentences) == sum(len(c) for c in PAPER_TABLE1.values())
    assert sentences[0].startswith("CLD") and "improved" in sentences[0]
    assert "| VE | euler | 0.108 |" in tables.comparison_markdown(rows)


def test_missing_table_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make reproduce"):
        tables.read_table(tmp_path / "nothing.json")

"""The time-to-score benchmark's table and plot, from result rows (the training itself is timed in
benchmarks/time_to_score.py, never in tests); one tiny budgeted cell end to end."""

from __future__ import annotations

import importlib.util
import json

import matplotlib
import pytest

from course_lib import recipes
from course_lib.config import PROJECT_ROOT
from course_lib.paper import CALIBRATION_TIME_TO_SCORE
from course_lib.plots.results import time_to_score_figure

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "time_to_score", PROJECT_ROOT / "benchmarks" / "time_to_score.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(sde: str, minutes: float, score: float) -> dict:
    return {
        "sde": sde, "decoder": "course-p4", "minutes": minutes, "steps": 100, "samples_per_s": 2000.0,
        "lr": 5e-3,
        "solver": "heun", "solver_steps": 10, "mean_score": score, "score_ci": (score - 0.05, score + 0.04),
        "success_rate": 0.34, "success_ci": (0.2241, 0.4785),
    }  # fmt: skip


def test_the_table_has_a_cell_per_budget_with_both_intervals_and_the_calibration_rows(bench):
    rows = [_row("vp", 2.5, 0.5), _row("vp", 5.0, 0.7), _row("ve-edm", 5.0, 0.8)]
    table = bench.markdown(rows).splitlines()
    assert table[0] == "| SDE | decoder | sampler | 2.5 min | 5 min |"
    vp = next(line for line in table if line.startswith("| vp |"))
    assert "**0.500** [0.45, 0.54]" in vp and "34 % [22, 48]" in vp and "2000/s, lr 0.005" in vp
    ve = next(line for line in table if line.startswith("| ve-edm |"))
    assert ve.split(" | ")[3] == "–", "a budget without a cell is marked, not left out"
    assert sum(line.startswith("| calibration |") for line in table) == len(
        CALIBRATION_TIME_TO_SCORE
    )


def test_the_plot_draws_one_curve_per_sde_and_decoder_and_the_calibration():
    rows = [_row("vp", 2.5, 0.5), _row("vp", 5.0, 0.7), _row("ve-edm", 5.0, 0.8)]
    fig = time_to_score_figure(rows, CALIBRATION_TIME_TO_SCORE)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "vp / course-p4" in labels and "ve-edm / course-p4" in labels
    assert sum(label.startswith("calibration") for label in labels) == 2


def test_one_tiny_budgeted_cell_trains_evaluates_and_is_kept(bench, tmp_path, monkeypatch):
    from course_lib.data import load_pusht

    small = load_pusht().subset(range(8))
    train = bench.train
    monkeypatch.setattr(bench, "train", _with_demos(train, small))
    result = bench.run_cell("ve-edm", "tiny", 0.1, tmp_path, episodes=2, threads=1, max_steps=16)
    assert result["steps"] >= 1 and 0.0 <= result["mean_score"] <= 1.0
    lo, hi = result["success_ci"]
    assert 0.0 <= lo <= result["success_rate"] <= hi <= 1.0
    kept = json.loads((tmp_path / "ve-edm-tiny-0.1min" / "result.json").read_text())
    assert kept["steps"] == result["steps"]
    again = bench.run_cell("ve-edm", "tiny", 0.1, tmp_path, episodes=2, threads=1, max_steps=16)
    assert again == kept, "a finished cell is read back, not trained again"

    monkeypatch.setitem(bench.BUDGET_SAMPLERS, "ve-edm", ("euler", 3))
    monkeypatch.setattr(bench, "train", _fails)
    moved = bench.run_cell("ve-edm", "tiny", 0.1, tmp_path, episodes=2, threads=1, max_steps=16)
    assert (moved["solver"], moved["solver_steps"]) == ("euler", 3)
    assert moved["steps"] == kept["steps"] and moved["train_seconds"] == kept["train_seconds"]
    on_disk = json.loads((tmp_path / "ve-edm-tiny-0.1min" / "result.json").read_text())
    assert on_disk == moved, "a cell whose sampler changed is evaluated again, not retrained"

    monkeypatch.setattr(bench, "EXECUTED_STEPS", 2)
    fewer = bench.run_cell("ve-edm", "tiny", 0.1, tmp_path, episodes=2, threads=1, max_steps=16)
    assert fewer["executed"] == 2 and fewer["steps"] == kept["steps"]
    assert json.loads((tmp_path / "ve-edm-tiny-0.1min" / "result.json").read_text()) == fewer

    trained_again = []
    monkeypatch.setattr(bench, "train", _recording(_with_demos(train, small), trained_again))
    monkeypatch.setitem(recipes.RECIPE_LR, "ve-edm", 2 * recipes.RECIPE_LR["ve-edm"])
    retrained = bench.run_cell("ve-edm", "tiny", 0.1, tmp_path, episodes=2, threads=1, max_steps=16)
    assert len(trained_again) == 1, "a cell trained under another learning rate is trained again"
    stale = tmp_path / "ve-edm-tiny-0.1min-stale-1"
    assert json.loads((stale / "result.json").read_text()) == fewer, "the stale cell is kept aside"
    assert retrained["steps"] >= 1
    lr = bench.DiffusionPolicy.load(tmp_path / "ve-edm-tiny-0.1min" / "policy.pt").metadata
    assert lr["train_config"]["lr"] == recipes.RECIPE_LR["ve-edm"]


def _fails(*args, **kwargs):
    raise AssertionError("the cell was trained again")


def _recording(train, calls: list):
    def wrapped(*args, **kwargs):
        calls.append(args)
        return train(*args, **kwargs)

    return wrapped


def _with_demos(train, demos):
    def wrapped(*args, **kwargs):
        return train(*args, demos=demos, **kwargs)

    return wrapped

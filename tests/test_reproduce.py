"""Table writing, early-stopped run export and the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from course_lib import config, reproduce, sdes, tables
from course_lib.__main__ import main
from course_lib.data import load_pusht
from course_lib.paper import PAPER_TABLE1
from course_lib.policy import DiffusionPolicy, PolicyConfig
from course_lib.recipes import DEFAULT_LR, RECIPE_LR, TABLE_SOLVERS, course_recipe
from course_lib.train import TrainConfig, export_policy, train


def _cell(score: float, steps: int) -> dict:
    return {
        "mean_score": score,
        "success_rate": 0.5,
        "mean_final_coverage": score - 0.1,
        "smoothness": 12.5,
        "latency_ms": 20.0,
        "steps": steps,
    }


def test_the_recipe_gives_each_process_its_learning_rate_and_names_only_registered_ones():
    assert set(RECIPE_LR) <= set(sdes.names()), "a learning rate for an unknown SDE is a typo"
    for sde in TABLE_SOLVERS:
        assert course_recipe(sde, minutes=5)[1].lr == RECIPE_LR.get(sde, DEFAULT_LR)
    assert {sde: course_recipe(sde)[1].lr for sde in ("vp", "ve", "cld")} == dict.fromkeys(
        ("vp", "ve", "cld"), DEFAULT_LR
    ), "the paper's processes train at the recipe's common rate"


def test_tables_put_every_cell_beside_the_papers(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "FIGURES_DIR", tmp_path)
    results = {
        sde: {s: _cell(0.5 + 0.01 * i, n) for i, (s, n) in enumerate(cells.items())}
        for sde, cells in TABLE_SOLVERS.items()
    }
    written = reproduce.write_tables(results)
    assert {p.name for p in written} >= {
        "table1.md",
        "table1.json",
        "table1.png",
        "table1_corrected.md",
    }
    paper_md = (tmp_path / "table1.md").read_text()
    for cells in PAPER_TABLE1.values():
        for value in cells.values():
            assert f"{value:.3f}" in paper_md
    assert "VE-EDM" not in paper_md
    corrected = json.loads((tmp_path / "table1_corrected.json").read_text())
    assert set(corrected["results"]) == set(TABLE_SOLVERS)
    assert tables.read_table("table1_corrected.json")["results"] == corrected["results"]
    # the corrected rows sit beside the paper's row they replace
    corrected_md = (tmp_path / "table1_corrected.md").read_text()
    edm_heun = next(
        line for line in corrected_md.splitlines() if line.startswith("| VE-EDM | Heun")
    )
    assert "| 0.105 |" in edm_heun


def test_cells_are_evaluated_and_shipped_with_the_executed_steps_asked(tmp_path, monkeypatch):
    """The executed targets per chunk are part of a cell: each count has its own cache, and the
    shipped policy acts with the count its table row measured."""
    from builders import make_policy

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    policy = make_policy(n_action_steps=8)
    policy.save(run_dir / "policy.pt")
    calls = []
    real_evaluate = reproduce.evaluate

    def counted(*args, **kwargs):
        calls.append(kwargs["n_action_steps"])
        return real_evaluate(*args, progress=False, **kwargs)

    monkeypatch.setattr(reproduce, "evaluate", counted)
    six = reproduce.evaluate_cell(policy, run_dir, "euler", 2, 1, executed=6)
    again = reproduce.evaluate_cell(policy, run_dir, "euler", 2, 1, executed=6)
    reproduce.evaluate_cell(policy, run_dir, "euler", 2, 1, executed=16)
    assert calls == [6, 16] and again == six
    assert (run_dir / "eval_euler2_x6_1.json").exists()

    monkeypatch.setattr(reproduce, "PRETRAINED_DIR", tmp_path / "shipped")
    cells = {"euler": tables.cell(six)}
    shipped = DiffusionPolicy.load(
        reproduce.ship_policy(run_dir / "policy.pt", "vp", cells, executed=6), device="cpu"
    )
    assert (shipped.cfg.n_action_steps, shipped.cfg.solver, shipped.cfg.steps) == (6, "euler", 2)

    # the default sampler is the cell that succeeded most often; the mean score breaks ties
    cells = {
        "euler": {**cells["euler"], "mean_score": 0.98, "success_rate": 0.44, "steps": 2},
        "heun": {**cells["euler"], "mean_score": 0.97, "success_rate": 0.80, "steps": 3},
        "em": {**cells["euler"], "mean_score": 0.99, "success_rate": 0.80, "steps": 4},
    }
    shipped = DiffusionPolicy.load(reproduce.ship_policy(run_dir / "policy.pt", "vp", cells))
    assert (shipped.cfg.solver, shipped.cfg.steps) == ("em", 4)
    assert shipped.metadata["table_row"] == cells


def test_an_unfinished_run_exports_its_ema_policy_and_says_so(tmp_path):
    demos = load_pusht().subset(range(6))
    cfg = TrainConfig(
        steps=10,
        batch_size=16,
        warmup=2,
        val_every=2,
        ckpt_every=3,
        val_fraction=0.2,
        val_windows=32,
        device="cpu",
    )

    def stop(step: int, value: float) -> None:
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            PolicyConfig(decoder="tiny"), cfg, tmp_path, demos=demos, progress=False, on_step=stop
        )
    policy = DiffusionPolicy.load(export_policy(tmp_path), device="cpu")
    assert policy.metadata["steps"] == 4 and policy.metadata["stopped_early"] is True
    assert policy.metadata["train_config"]["steps"] == 10


@pytest.mark.parametrize("command", ["train", "evaluate", "reproduce", "bench"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m course_lib " + command in capsys.readouterr().out


def test_the_module_runs_as_a_program():
    out = subprocess.run(
        [sys.executable, "-m", "course_lib", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("train", "evaluate", "reproduce", "bench"):
        assert command in out


def test_unknown_sde_on_the_command_line_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--sde", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_sde_options_are_parsed_and_checked(capsys):
    from course_lib.__main__ import parse_sde_options

    assert parse_sde_options("cld-hsm", ["time_law=sqrt", "p_std=0.8", "beta=4"]) == {
        "time_law": "sqrt",
        "p_std": 0.8,
        "beta": 4,
    }
    for options, message in (
        (["--sde", "cld-hsm", "--sde-option", "time_law=cubic"], "unknown time_law"),
        (["--sde", "cld-hsm", "--sde-option", "time_law"], "KEY=VALUE"),
        (["--sde", "vp", "--sde-option", "colour=blue"], "valid ones are"),
    ):
        assert main(["train", *options]) == 2
        assert message in capsys.readouterr().err


def test_threads_flag_is_checked_and_applied(capsys):
    import torch

    with pytest.raises(SystemExit):
        main(["evaluate", "vp", "--threads", "0"])
    assert "--threads must be at least 1" in capsys.readouterr().err
    before = torch.get_num_threads()
    try:
        # threads are set before the run
        assert main(["evaluate", "vp", "--threads", "1", "--episodes", "0"]) == 2
        assert "--episodes" in capsys.readouterr().err
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

"""Table 1 of the paper reproduced side by side, then the corrected processes beside it.

``reproduce()`` trains every SDE with the course recipe (a finished run is reused unless
``retrain``), evaluates each (SDE, solver) cell on the PushT test seeds (results cached as JSON in
the run directory), and writes ``figures/table1.{md,json,png}``, ``figures/table1_corrected.{md,json}``
and the loss-curve figures. These are results, so they go to ``config.FIGURES_DIR`` in fast mode
too (notebooks' fast-mode figures go to ``config.figures_output_dir()``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course_lib import config, tables
from course_lib.checkpoints import read_metadata
from course_lib.evaluate import evaluate
from course_lib.paper import CORRECTION_OF, PAPER_TABLE1
from course_lib.plots import save_figure
from course_lib.plots.results import loss_curves_figure, table_bars_figure
from course_lib.policy import DiffusionPolicy, read_checkpoint
from course_lib.pusht import TEST_SEEDS
from course_lib.recipes import (
    CORRECTED_SDES,
    EXECUTED_STEPS,
    PAPER_SDES,
    RECIPE_MINUTES,
    TABLE_SOLVERS,
    course_recipe,
    recipe_changes,
)
from course_lib.shipped import PRETRAINED_DIR
from course_lib.train import export_policy, read_loss_csv, set_aside, train


def run_dir_for(runs: Path, sde: str) -> Path:
    return Path(runs) / f"{sde}-keypoints"


def ensure_trained(
    sde: str,
    runs: Path,
    *,
    retrain: bool = False,
    steps: int | None = None,
    minutes: float | None = None,
    device: str = "auto",
    train_missing: bool = True,
) -> Path:
    """Train ``sde`` with the course recipe unless a finished run of that recipe exists; returns its
    policy path. A finished run of another recipe (``recipes.recipe_changes``: learning rate,
    batch, ...) is set aside as ``<run>-stale-<k>`` and trained again.

    With ``train_missing=False`` an unfinished run is not continued: the EMA weights of its latest
    checkpoint are exported (``export_policy``) and the metadata says where it stopped. A
    ``policy.pt`` left by an earlier run is not taken as finished (``is_finished``).
    """
    run_dir = run_dir_for(runs, sde)
    policy_path = run_dir / "policy.pt"
    policy_cfg, train_cfg = course_recipe(sde, steps=steps, minutes=minutes)
    if not retrain and is_finished(run_dir):
        changed = recipe_changes(read_metadata(policy_path).get("train_config", {}), train_cfg)
        if not changed:
            return policy_path
        if not train_missing:
            print(
                f"{run_dir}: trained with another recipe ({changed}); used as it is (no training)"
            )
            return policy_path
        print(f"{run_dir}: trained with another recipe ({changed}); kept as {set_aside(run_dir)}")
    if not train_missing:
        if not (run_dir / "checkpoint.pt").exists():
            raise FileNotFoundError(f"no run for {sde!r} in {run_dir}; train it first")
        return export_policy(run_dir)
    train_cfg.device = device
    command = (
        f"python -m course_lib reproduce --sdes {sde}"
        + (f" --steps {steps}" if steps else "")
        + (f" --minutes {minutes:g}" if minutes else "")
    )
    train(policy_cfg, train_cfg, run_dir, resume=not retrain, metadata={"command": command})
    return policy_path


def is_finished(run_dir: Path) -> bool:
    """Whether ``run_dir/policy.pt`` is the end of the run in ``run_dir``: it did not stop early,
    and the steps it records equal the step of the run's ``checkpoint.pt`` (when there is one).

    A ``policy.pt`` that disagrees is stale (an older run's, with a newer ``--fresh`` run stopped
    before its end) or an export of an unfinished run, and is not reused as a finished result.
    """
    policy_path, ckpt_path = Path(run_dir) / "policy.pt", Path(run_dir) / "checkpoint.pt"
    if not policy_path.exists():
        return False
    metadata = json.loads(read_checkpoint(policy_path).get("metadata", "{}"))
    if metadata.get("stopped_early"):
        return False
    if not ckpt_path.exists():
        return True
    return metadata.get("steps") == read_checkpoint(ckpt_path).get("step")


def evaluate_cell(
    policy: DiffusionPolicy,
    run_dir: Path,
    solver: str,
    steps: int,
    episodes: int,
    *,
    executed: int,
    refresh: bool = False,
) -> dict[str, Any]:
    """Evaluate one cell, ``executed`` targets of each chunk per call, caching the result as
    ``eval_<solver><steps>_x<executed>_<episodes>.json``; a cache older than the run's
    ``policy.pt`` belongs to an earlier policy and is recomputed."""
    cache = run_dir / f"eval_{solver}{steps}_x{executed}_{episodes}.json"
    policy_file = run_dir / "policy.pt"
    stale = policy_file.exists() and (
        not cache.exists() or cache.stat().st_mtime < policy_file.stat().st_mtime
    )
    if cache.exists() and not refresh and not stale:
        return json.loads(cache.read_text())
    seeds = list(TEST_SEEDS)[:episodes]
    result = evaluate(policy, seeds, solver, steps, n_action_steps=executed).to_dict()
    text = json.dumps(result, indent=2)
    cache.write_text(text)
    return json.loads(text)  # the same types (lists, not tuples) as a cached cell


def reproduce(
    sdes_to_run: Sequence[str] | None = None,
    runs: Path = Path("runs"),
    *,
    retrain: bool = False,
    episodes: int = 50,
    steps: int | None = None,
    minutes: float | None = None,
    ship: bool = False,
    device: str = "auto",
    train_missing: bool = True,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Train, evaluate and write the tables; returns ``results[sde][solver] -> metrics``.

    Every SDE trains with the same recipe and the same budget: ``minutes`` (default
    ``RECIPE_MINUTES`` in full mode) or ``steps``, and every cell executes the recipe's
    ``EXECUTED_STEPS`` targets per chunk (a rollout setting, so a run trained before it changed is
    evaluated as the recipe says now).
    """
    if steps is None and minutes is None and not config.FAST:
        minutes = RECIPE_MINUTES
    names = list(sdes_to_run or (*PAPER_SDES, *CORRECTED_SDES))
    unknown = sorted(set(names) - set(TABLE_SOLVERS))
    if unknown:
        raise ValueError(f"no table entry for {unknown}; choose from {sorted(TABLE_SOLVERS)}")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for sde in names:
        policy_path = ensure_trained(
            sde,
            runs,
            retrain=retrain,
            steps=steps,
            minutes=minutes,
            device=device,
            train_missing=train_missing,
        )
        policy = DiffusionPolicy.load(policy_path, device=device)
        results[sde] = {
            solver: tables.cell(
                evaluate_cell(
                    policy,
                    policy_path.parent,
                    solver,
                    n,
                    episodes,
                    executed=EXECUTED_STEPS,
                    refresh=retrain,
                )
            )
            for solver, n in TABLE_SOLVERS[sde].items()
        }
        if ship:
            ship_policy(policy_path, sde, results[sde], executed=EXECUTED_STEPS)
    previous = tables.read_table(tables.CORRECTED_TABLE, missing_ok=True)["results"]
    merged = {**previous, **results}
    write_tables(merged, episodes)
    histories = {}
    for sde in merged:
        curve = run_dir_for(runs, sde) / "loss.csv"
        if curve.exists():
            shutil.copyfile(curve, config.FIGURES_DIR / f"loss_{sde}.csv")
        kept = config.FIGURES_DIR / f"loss_{sde}.csv"
        if kept.exists():
            histories[sde] = read_loss_csv(kept)
    if histories:
        write_loss_figures(histories)
    return merged


def ship_policy(
    policy_path: Path,
    name: str,
    cells: dict[str, dict[str, Any]] | None = None,
    executed: int | None = None,
) -> Path:
    """Copy a trained policy into the package so ``course_lib.pretrained(name)`` finds it.

    With the policy's evaluated ``cells``, its default sampler becomes the one that succeeded most
    often, the higher mean score breaking ties, and the metadata keeps the table row, so
    ``policy.act(obs)`` uses what the table measured; ``executed`` (the cells' targets per chunk)
    becomes its ``n_action_steps``. Success decides because the mean scores of the corrected
    processes sit within 0.02 of each other: VE-EDM's Heun 10 had the best mean (0.981) with 44 %
    success, its Euler 10 0.976 with 80 % (77 % on 500 episodes).
    """
    PRETRAINED_DIR.mkdir(exist_ok=True)
    policy = DiffusionPolicy.load(policy_path, device="cpu")
    if executed is not None:
        policy.cfg.n_action_steps = executed
    if cells:
        solver, cell = max(
            cells.items(),
            key=lambda item: (item[1].get("success_rate", 0.0), item[1]["mean_score"]),
        )
        policy.cfg.solver, policy.cfg.steps = solver, int(cell["steps"])
        policy.metadata["table_row"] = cells
    return policy.save(PRETRAINED_DIR / f"{name}.pt")


#: What the written tables say about their columns.
TABLE_NOTE = (
    "Mean score (mean over {episodes} test episodes, seeds 100000.., of the max coverage reward), "
    "beside the paper's Table 1 (average goal coverage). Success = coverage > 0.95 reached; "
    "smoothness = mean squared jerk of the executed targets (px^2); latency per action chunk. "
    "Brackets: 95 % intervals (score: percentile bootstrap over episodes; success: Wilson)."
)


def write_tables(results: dict[str, dict[str, dict[str, Any]]], episodes: int = 50) -> list[Path]:
    """Write table1 (the paper's processes) and table1_corrected (all) as Markdown, JSON and a bar chart."""
    out = config.FIGURES_DIR
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, sdes, title in (
        (
            "table1",
            [s for s in PAPER_SDES if s in results],
            "Table 1 reproduced (the paper's formulation)",
        ),
        (
            "table1_corrected",
            [s for s in (*PAPER_SDES, *CORRECTED_SDES) if s in results],
            "Table 1 with the corrected processes (VP-EDM, VE-EDM, CLD-HSM) beside the paper's",
        ),
    ):
        if not sdes:
            continue
        table = tables.table1_markdown(results, sdes)
        note = TABLE_NOTE.format(episodes=episodes)
        (out / f"{stem}.md").write_text(f"# {title}\n\n{note}\n\n{table}\n")
        payload = {
            "episodes": episodes,
            "paper": PAPER_TABLE1,
            "results": {s: results[s] for s in sdes},
        }
        (out / f"{stem}.json").write_text(json.dumps(payload, indent=2))
        written += [out / f"{stem}.md", out / f"{stem}.json"]
        written.append(
            save_figure(
                table_bars_figure(payload["results"], PAPER_TABLE1, CORRECTION_OF),
                f"{stem}.png",
                directory=out,
            )
        )
    return written


def write_loss_figures(histories: dict[str, dict[str, list[float]]]) -> list[Path]:
    """Loss curves in the manner of the paper's Figures 2-5: VP alone, then the score-matching SDEs."""
    groups = {
        "loss_vp": ["vp"],
        "loss_ve_cld": ["ve", "cld"],
        "loss_corrected": list(CORRECTED_SDES),
    }
    written = []
    for stem, sdes in groups.items():
        chosen = {s: histories[s] for s in sdes if s in histories}
        if chosen:
            written.append(
                save_figure(loss_curves_figure(chosen), f"{stem}.png", directory=config.FIGURES_DIR)
            )
    return written

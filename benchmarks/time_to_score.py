"""Time to score: train each SDE x decoder for wall-clock budgets, evaluate, compare side by side.

Run: ``.venv/bin/python benchmarks/time_to_score.py`` (``make time-to-score``), alone on the machine:
another job beside it takes throughput, and so steps, from every cell. Each cell trains the course
recipe with ``TrainConfig.minutes`` (throughput measured in the first seconds, step count, warm-up
and cosine decay fitted to the budget, the count fitted again at the end of warm-up) on
``--threads`` threads, then evaluates the final EMA weights on the 50 test seeds with the cell's
sampler. Cells are kept in ``--runs`` (one run directory each,
with ``result.json``), so an interrupted benchmark continues where it stopped and a finished cell is
not trained again; a finished cell whose sampler (``BUDGET_SAMPLERS``), executed steps per chunk
(``EXECUTED_STEPS``, which training does not read) or episode count has changed is evaluated again
with its training figures kept, and one whose training recipe (``recipes.RECIPE_FIELDS``: learning
rate, batch, EMA, ...) has changed is set aside and trained again. Writes a Markdown table and a
plot of score against minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from course_lib import config
from course_lib.checkpoints import read_metadata
from course_lib.evaluate import evaluate
from course_lib.paper import CALIBRATION_TIME_TO_SCORE
from course_lib.plots.results import time_to_score_figure
from course_lib.policy import DiffusionPolicy
from course_lib.pusht import MAX_STEPS, evaluation_seeds
from course_lib.recipes import (
    BUDGET_SAMPLERS,
    EXECUTED_STEPS,
    RECIPE_DECODER,
    course_recipe,
    recipe_changes,
)
from course_lib.train import set_aside, train


def run_cell(
    sde: str,
    decoder: str,
    minutes: float,
    runs: Path,
    episodes: int,
    threads: int,
    max_steps: int = MAX_STEPS,
) -> dict:
    """Train one budgeted cell (or resume it), evaluate it, and keep the result beside the run."""
    run_dir = runs / f"{sde}-{decoder}-{minutes:g}min"
    result_path = run_dir / "result.json"
    solver, steps = BUDGET_SAMPLERS[sde]
    policy_cfg, train_cfg = course_recipe(sde, minutes=minutes)
    policy_cfg = dataclasses.replace(policy_cfg, decoder=decoder)
    train_cfg = dataclasses.replace(train_cfg, num_threads=threads)
    trained_with = (
        read_metadata(run_dir / "policy.pt")["train_config"] if result_path.exists() else None
    )
    changed = recipe_changes(trained_with, train_cfg) if trained_with is not None else {}
    if changed:
        stale = set_aside(run_dir)
        print(
            f"{run_dir.name}: the recipe changed since it trained ({changed}); kept as {stale.name}"
        )
    if result_path.exists():
        kept = json.loads(result_path.read_text())
        if "lr" not in kept:  # kept from before the table showed the learning rate
            kept["lr"] = trained_with["lr"]
            result_path.write_text(json.dumps(kept, indent=2))
        evaluated = (
            kept["solver"],
            kept["solver_steps"],
            kept.get("executed"),
            kept["episodes"],
        )
        if evaluated == (solver, steps, EXECUTED_STEPS, episodes):
            return kept
        # the evaluation changed since: evaluate the trained cell again, keep its training
        policy = DiffusionPolicy.load(run_dir / "policy.pt")
        kept.update(_evaluation(policy, solver, steps, episodes, max_steps))
        result_path.write_text(json.dumps(kept, indent=2))
        return kept
    command = f"python -m course_lib train --sde {sde} --decoder {decoder} --minutes {minutes:g}"
    trained = train(policy_cfg, train_cfg, run_dir, progress=False, metadata={"command": command})
    history = trained.history
    result = {
        "sde": sde,
        "decoder": decoder,
        "minutes": minutes,
        "lr": train_cfg.lr,
        "steps": trained.policy.metadata["steps"],
        "train_seconds": round(trained.seconds, 1),
        "measured_samples_per_s": trained.policy.metadata["budget"]["measured_samples_per_s"],
        "probe_steps": trained.policy.metadata["budget"].get("probe_steps"),
        "warmup_samples_per_s": trained.policy.metadata["budget"].get("warmup_samples_per_s"),
        "samples_per_s": round(
            trained.policy.metadata["steps"] * train_cfg.batch_size / trained.seconds, 1
        ),
        "final_val_loss": history[-1]["val_loss"] if history else float("nan"),
        **_evaluation(trained.policy, solver, steps, episodes, max_steps),
    }
    result_path.write_text(json.dumps(result, indent=2))
    return result


def _evaluation(policy, solver: str, steps: int, episodes: int, max_steps: int) -> dict:
    """The cell's evaluation: final EMA weights, its sampler, ``EXECUTED_STEPS`` targets per chunk,
    the first ``episodes`` test seeds."""
    start = time.perf_counter()
    metrics = evaluate(
        policy,
        evaluation_seeds(episodes),
        solver,
        steps,
        max_steps=max_steps,
        n_action_steps=EXECUTED_STEPS,
        progress=False,
    )
    return {
        "solver": solver,
        "solver_steps": steps,
        "executed": EXECUTED_STEPS,
        "episodes": metrics["n_episodes"],
        "mean_score": metrics["mean_score"],
        "score_ci": list(metrics["score_ci"]),
        "success_rate": metrics["success_rate"],
        "success_ci": list(metrics["success_ci"]),
        "eval_seconds": round(time.perf_counter() - start, 1),
    }


def markdown(results: list[dict]) -> str:
    """One row per SDE x decoder, one column per budget, then the calibration rows."""
    budgets = sorted({r["minutes"] for r in results})
    head = "| SDE | decoder | sampler | " + " | ".join(f"{m:g} min" for m in budgets) + " |"
    lines = [head, "|" + "---|" * (len(budgets) + 3)]
    cells: dict[tuple[str, str], dict[float, dict]] = {}
    for r in results:
        cells.setdefault((r["sde"], r["decoder"]), {})[r["minutes"]] = r
    for (sde, decoder), by_budget in cells.items():
        any_cell = next(iter(by_budget.values()))
        row = [sde, decoder, f"{any_cell['solver']} {any_cell['solver_steps']}"]
        for m in budgets:
            r = by_budget.get(m)
            if r is None:
                row.append("–")
                continue
            lo, hi = r["score_ci"]
            slo, shi = r["success_ci"]
            row.append(
                f"**{r['mean_score']:.3f}** [{lo:.2f}, {hi:.2f}]<br>"
                f"{100 * r['success_rate']:.0f} % [{100 * slo:.0f}, {100 * shi:.0f}]<br>"
                f"{r['steps']} steps, {r['samples_per_s']:.0f}/s, lr {r['lr']:g}"
            )
        lines.append("| " + " | ".join(row) + " |")
    for name, figures in CALIBRATION_TIME_TO_SCORE.items():
        row = ["calibration", name, "DDIM 10"]
        for m in budgets:
            score, success = figures.get(m, (None, None))
            row.append(
                "–"
                if score is None
                else f"{score:.3f}" + (f" ({100 * success:.0f} %)" if success else "")
            )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdes", nargs="+", default=["vp", "vp-edm", "ve-edm", "cld-hsm"])
    parser.add_argument("--decoders", nargs="+", default=[RECIPE_DECODER])
    parser.add_argument("--minutes", nargs="+", type=float, default=[2.5, 5.0, 10.0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("runs/time_to_score"))
    parser.add_argument("--out", type=Path, default=config.FIGURES_DIR / "time_to_score.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for minutes in args.minutes:
        for sde in args.sdes:
            for decoder in args.decoders:
                r = run_cell(sde, decoder, minutes, args.runs, args.episodes, args.threads)
                results.append(r)
                print(
                    f"{sde:8s} {decoder:10s} {minutes:5g} min  {r['steps']:5d} steps "
                    f"{r['samples_per_s']:6.0f}/s  score {r['mean_score']:.3f} "
                    f"[{r['score_ci'][0]:.2f}, {r['score_ci'][1]:.2f}]  success "
                    f"{100 * r['success_rate']:3.0f} % [{100 * r['success_ci'][0]:.0f}, "
                    f"{100 * r['success_ci'][1]:.0f}]  (train {r['train_seconds']:.0f} s, "
                    f"eval {r['eval_seconds']:.1f} s)",
                    flush=True,
                )
    table = markdown(results)
    header = (
        "# Time to score\n\n"
        f"`benchmarks/time_to_score.py` on {torch.get_num_threads()} CPU threads: each cell trains "
        "for its wall-clock budget (steps fitted to the throughput measured in the first seconds, "
        "then again from the pace of the warm-up), "
        f"then its EMA weights are evaluated on {args.episodes} test seeds. Cells: mean score "
        "[bootstrap 95 %], success rate [Wilson 95 %], optimisation steps and training samples/s. "
        "Calibration rows: ../shared/CALIBRATION.md (1-D U-Net, DDIM 10).\n\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + table)
    (args.out.with_suffix(".json")).write_text(json.dumps(results, indent=2))
    fig = time_to_score_figure(results, CALIBRATION_TIME_TO_SCORE)
    fig.savefig(args.out.with_suffix(".png"), dpi=120, bbox_inches="tight")
    print("\n" + table)


if __name__ == "__main__":
    main()

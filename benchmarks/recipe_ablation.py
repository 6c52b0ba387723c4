"""Recipe ablation: one lever at a time, each variant trained for the same wall-clock budget.

Run: ``.venv/bin/python benchmarks/recipe_ablation.py [--minutes 2.5] [--only NAME ...]``, alone on
the machine. Every variant is the course recipe with one change (decoder, learning rate, batch,
gradient clipping, law of training times, SDE), trained with ``TrainConfig.minutes`` on 2 threads
and evaluated on the 50 test seeds; the table goes to ``figures/recipe_ablation.md``. Results are
kept per variant in ``--runs`` so that an interrupted run continues.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from course_lib import config
from course_lib.evaluate import evaluate
from course_lib.metrics import format_rate, format_score
from course_lib.pusht import TEST_SEEDS
from course_lib.recipes import course_recipe
from course_lib.train import train

#: name -> (sde, policy changes, training changes, sampler). The baseline is the recipe as it was
#: before this study (one token per action, lr 1e-3); each row changes what its name says.
VARIANTS: dict[str, tuple[str, dict, dict, tuple[str, int]]] = {
    "vp, DiT 1 token/action, lr 1e-3": ("vp", {"decoder": "course"}, {"lr": 1e-3}, ("heun", 10)),
    "vp, DiT 4 actions/token, lr 1e-3": ("vp", {}, {"lr": 1e-3}, ("heun", 10)),
    "vp, U-Net 64-128-256, lr 1e-3": ("vp", {"decoder": "unet"}, {"lr": 1e-3}, ("heun", 10)),
    "vp, U-Net 32-64-128, lr 1e-3": ("vp", {"decoder": "unet-small"}, {"lr": 1e-3}, ("heun", 10)),
    "vp, 4 actions/token, lr 1e-3, no clipping": (
        "vp",
        {},
        {"lr": 1e-3, "max_grad_norm": None},
        ("heun", 10),
    ),
    "vp, 4 actions/token, lr 1e-3, log-normal times": (
        "vp",
        {"sde_overrides": {"time_law": "lognormal"}},
        {"lr": 1e-3},
        ("heun", 10),
    ),
    "vp, 4 actions/token, lr 2e-3": ("vp", {}, {"lr": 2e-3}, ("heun", 10)),
    "vp, 4 actions/token, lr 3e-3 (recipe)": ("vp", {}, {}, ("heun", 10)),
    "vp, 4 actions/token, lr 4e-3": ("vp", {}, {"lr": 4e-3}, ("heun", 10)),
    "ve-edm, 4 actions/token, lr 1e-3": ("ve-edm", {}, {"lr": 1e-3}, ("heun", 10)),
}


def run_variant(name: str, minutes: float, runs: Path) -> dict:
    sde, policy_changes, train_changes, (solver, steps) = VARIANTS[name]
    run_dir = runs / name.replace(" ", "_").replace(",", "").replace("/", "-")
    kept = run_dir / "result.json"
    if kept.exists():
        return json.loads(kept.read_text())
    policy_cfg, train_cfg = course_recipe(sde, minutes=minutes)
    policy_cfg = dataclasses.replace(policy_cfg, **policy_changes)
    train_cfg = dataclasses.replace(train_cfg, num_threads=2, **train_changes)
    trained = train(policy_cfg, train_cfg, run_dir, progress=False)
    out = evaluate(trained.policy, TEST_SEEDS, solver, steps, progress=False)
    result = {
        "name": name,
        "steps": trained.policy.metadata["steps"],
        "samples_per_s": round(trained.policy.metadata["steps"] * 256 / trained.seconds),
        "score": format_score(out["episode_scores"]),
        "success": format_rate(int(sum(out["episode_success"])), len(TEST_SEEDS)),
        "sampler": f"{solver} {steps}",
    }
    kept.write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.5)
    parser.add_argument("--only", nargs="+", default=None, help="variant names to run")
    parser.add_argument("--runs", type=Path, default=Path("runs/recipe_ablation"))
    parser.add_argument("--out", type=Path, default=config.FIGURES_DIR / "recipe_ablation.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lines = [
        f"| variant ({args.minutes:g} min) | steps | samples/s | score [95 %] | success [95 %] | sampler |",
        "|---|---|---|---|---|---|",
    ]
    for name in args.only or VARIANTS:
        r = run_variant(name, args.minutes, args.runs)
        lines.append(
            f"| {name} | {r['steps']} | {r['samples_per_s']} | {r['score']} | {r['success']} "
            f"| {r['sampler']} |"
        )
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

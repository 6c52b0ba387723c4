"""VP in 5 minutes: the recipe against v-prediction, and against batch 512 with bf16 autocast.

Run: ``.venv/bin/python benchmarks/vp_five_minutes.py [--minutes 5] [--variants NAME ...]``, alone
on the machine. v-prediction (Salimans & Ho 2022) keeps VP's forward process and cosine schedule
and changes only what the network outputs: with m = sqrt(abar(t)), s = sqrt(1 - abar(t)),

    x_t = m x_0 + s eps,   v = m eps - s x_0,   eps = s x_t + m v,   score = -eps / s,

and the loss is ||v_theta(x_t, t) - v||^2. That process is registered here, from outside the library
(``sdes.register``, ARCHITECTURE.md), not shipped. The batch variants double the batch and run the
forward pass under bf16 autocast (the decoder's samples/s rise 1.57x alone). Each variant trains
the course recipe with its one change for the budget and is evaluated with Heun 25 and Euler 25 on
the 50 test seeds; results are kept per variant in ``--runs`` and printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from course_lib import sdes
from course_lib.evaluate import evaluate
from course_lib.metrics import format_rate, format_score
from course_lib.pusht import TEST_SEEDS
from course_lib.recipes import course_recipe
from course_lib.sdes.base import mean_over_data
from course_lib.sdes.vp import VPSDE
from course_lib.train import train


class VPVSDE(VPSDE):
    """VP with the cosine schedule; the network output is v = m eps - s x_0."""

    name = "vp-v"
    label = "VP (v-prediction)"
    default_sampler = ("heun", 25)

    def score_from_output(self, output, state, t):
        """score = -(s x_t + m v) / s."""
        self.check_output(output, state)
        m, s = self._coefs(state, t)
        return -(s * state + m * output) / s

    def output_from_score(self, score, state, t):
        """v = m eps - s x_0 with eps = -s score and x_0 = (x_t - s eps) / m."""
        m, s = self._coefs(state, t)
        eps = -s * score
        return m * eps - s * (state - s * eps) / m

    def loss(self, net_fn, x0, generator=None, t=None):
        """||v - v_theta(m x_0 + s eps, t)||^2, data mean."""
        x0 = self._check_data(x0)
        tt = self._loss_times(x0, t, generator)
        x_t, eps = self.perturb(x0, tt, generator)
        m, s = self._coefs(x0, tt)
        output = self._run_net(net_fn, x_t, tt)
        return mean_over_data((output - (m * eps - s * x0)) ** 2)


#: name -> (registered SDE, its overrides, training changes)
VARIANTS = {
    "vp": ("vp", {}, {}),
    "vp-v": ("vp-v", {}, {}),
    "vp-v, log-normal times": ("vp-v", {"time_law": "lognormal"}, {}),
    "vp, batch 512, bf16": ("vp", {}, {"batch_size": 512, "amp": True}),
    "vp, batch 512, bf16, lr 6e-3": ("vp", {}, {"batch_size": 512, "amp": True, "lr": 6e-3}),
}
SAMPLERS = (("heun", 25), ("euler", 25))


def run_variant(name: str, minutes: float, runs: Path) -> dict:
    sde, overrides, train_changes = VARIANTS[name]
    run_dir = runs / f"{name.replace(' ', '_').replace(',', '')}-{minutes:g}min"
    kept = run_dir / "result.json"
    if kept.exists():
        return json.loads(kept.read_text())
    policy_cfg, train_cfg = course_recipe("vp", minutes=minutes)
    policy_cfg = dataclasses.replace(policy_cfg, sde=sde, sde_overrides=overrides)
    train_cfg = dataclasses.replace(train_cfg, num_threads=2, **train_changes)
    trained = train(policy_cfg, train_cfg, run_dir)
    result = {"name": name, "steps": trained.policy.metadata["steps"]}
    for solver, steps in SAMPLERS:
        out = evaluate(trained.policy, TEST_SEEDS, solver, steps, progress=False)
        successes = int(sum(out["episode_success"]))
        result[f"{solver} {steps}"] = (
            f"{format_score(out['episode_scores'])}, {format_rate(successes, len(TEST_SEEDS))}"
        )
    kept.write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--runs", type=Path, default=Path("runs/vp_five_minutes"))
    args = parser.parse_args()
    sdes.register(VPVSDE)
    head = " | ".join(f"{solver} {steps}" for solver, steps in SAMPLERS)
    print(f"| variant ({args.minutes:g} min) | steps | {head} |")
    print("|---|---|" + "---|" * len(SAMPLERS))
    for name in args.variants:
        r = run_variant(name, args.minutes, args.runs)
        cells = " | ".join(r[f"{solver} {steps}"] for solver, steps in SAMPLERS)
        print(f"| {name} | {r['steps']} | {cells} |", flush=True)


if __name__ == "__main__":
    main()

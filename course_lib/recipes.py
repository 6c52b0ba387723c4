"""The course recipe: one (PolicyConfig, TrainConfig) per SDE, the single source of these settings.

The recipe follows ../shared/CALIBRATION.md (keypoints + agent position over 2 steps, 16-step chunks,
AdamW with a learning rate per process (``RECIPE_LR``; 1e-3 in the calibration), warm-up then
cosine decay fitted to the budget, EMA weights, batch 256), executes 6 targets of each chunk where
the calibration executes 8 (``EXECUTED_STEPS``), adds the mirror image of every demonstration
(PushT is symmetric about the goal T's axis, ``course_lib.pusht.symmetry``: VE-EDM in 10 minutes
went from 0.941 to 0.992 mean score on the 50 test seeds), with the paper's diffusion transformer
as decoder, its tokens holding 4 consecutive actions (``"course-p4"``: 4 tokens per chunk, 2.9x the
training throughput of one token per action on 2 CPU threads; ``decoder="course"`` keeps one token
per action). The paper's own choices that the recipe changes are listed in ``PAPER_DIFFERENCES``
so notebooks can state them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from course_lib import config
from course_lib.policy import PolicyConfig
from course_lib.train import TrainConfig

#: SDEs of the paper's Table 1 and the corrected processes of notebook 10.
PAPER_SDES = ("vp", "ve", "cld")
CORRECTED_SDES = ("cld-hsm", "ve-edm", "vp-edm")

#: Solvers evaluated for each SDE, with their number of steps N. The paper does not state its N;
#: the paper's processes, CLD-HSM and VP-EDM get N = 50 for every solver (Heun spends two network
#: calls per step; CLD-HSM's Euler and Heun are the exponential steps), VE-EDM the step counts its
#: samplers are designed for (EDM: 10 Heun steps), and VP-EDM also DDIM 10, its budget sampler.
TABLE_SOLVERS: dict[str, dict[str, int]] = {
    "vp": {"euler": 50, "heun": 50, "em": 50},
    "ve": {"euler": 50, "heun": 50, "em": 50},
    "cld": {"euler": 50, "em": 50},
    "ve-edm": {"euler": 10, "heun": 10, "em": 40},
    "cld-hsm": {"euler": 50, "heun": 50, "em": 50, "sscs": 50},
    "vp-edm": {"euler": 50, "heun": 50, "em": 50, "ddim": 10},
}

#: Sampler of each SDE in budgeted runs (time_to_score, the live runs of notebook 07): few network
#: calls, so that 50 episodes evaluate in seconds. VP keeps 25 Heun steps: on its uniform grid 10
#: steps cost the shipped model 0.18 of score (0.747 against 0.926 at 50 steps). VE-EDM takes Euler
#: 10, the better of Euler and Heun 10 on 200 seeds. CLD-HSM takes 25 exponential Heun steps: on
#: a 10-minute cell (before the mirror) Heun 10 / 15 / 25 / 50 gave 0.858 / 0.946 / 0.956 / 0.951
#: on the 50 test seeds (figures/recipe_ablation.md). VP-EDM integrates VP's own probability-flow
#: ODE, curved in t where VE's is straight in sigma: on a 5-minute cell Euler 10 / Heun 10 / Heun
#: 25 / Heun 50 in t gave 0.851 / 0.903 / 0.963 / 0.955. DDIM, the exponential integrator of the
#: same ODE, takes 10 network calls: on the lr 5e-3 5-minute cell it gave 0.981 and 51.5 % success
#: against Heun 25's 0.964 and 37.5 % (200 episodes from seed 100000), 0.979 and 51.5 % against
#: 0.973 and 35 % on 200 held-out episodes (from seed 101000), so VP-EDM takes DDIM 10.
BUDGET_SAMPLERS: dict[str, tuple[str, int]] = {
    "vp": ("heun", 25),
    "ve": ("em", 50),
    "cld": ("euler", 50),
    "ve-edm": ("euler", 10),
    "cld-hsm": ("heun", 25),
    "vp-edm": ("ddim", 10),
}

#: Targets of each 16-step chunk executed before the policy is called again. Training never reads
#: it (``policy.ROLLOUT_FIELDS``). The VE-EDM shipped at lr 3e-3 (Euler 10), on 500 episodes from
#: seed 100000: 4 / 5 / 6 / 7 / 8 executed gave 74 / 75 / 76 / 71 / 69 % success at mean score
#: 0.990-0.993; on 500 held-out episodes from seed 101000, 6 against 8: 74 % against 69 %. VP
#: (Heun 25, 300 held-out episodes): 0.925 against 0.915, 16 % against 18 %; CLD-HSM (200
#: episodes): 0.935 against 0.929.
EXECUTED_STEPS = 6

#: Decoder of the course recipe (``course_lib.nets.DECODER_SIZES``).
RECIPE_DECODER = "course-p4"
#: Wall-clock budget of the shipped models and of ``reproduce --minutes`` (2 CPU threads).
RECIPE_MINUTES = 10.0

#: AdamW's peak learning rate for each SDE (``DEFAULT_LR`` for those not named). At 5 minutes on 200
#: held-out episodes (figures/recipe_ablation.md), 5e-3 against 3e-3 took VE-EDM from 0.962 (37.5 %)
#: to 0.979 and 0.986 (49 %, 56.5 %; 8e-3: 0.956, 43.5 %) and VP-EDM from 0.932 (28 %) to 0.965
#: (39 %); the same change cost VP (0.828 to 0.799) and CLD-HSM (0.890 to 0.824). The two
#: EDM-preconditioned processes train with unit-variance targets at every noise level and take the
#: higher rate; the others keep 3e-3.
DEFAULT_LR = 3e-3
RECIPE_LR: dict[str, float] = {"ve-edm": 5e-3, "vp-edm": 5e-3}

#: Training settings of the recipe: a finished run that trained with other values is stale.
RECIPE_FIELDS = ("lr", "batch_size", "ema_decay", "weight_decay", "mirror")

#: Training steps of the course recipe (full mode) and of fast mode (CI, COURSE_FAST=1).
FULL_STEPS = 5000
FAST_STEPS = 150

PAPER_DIFFERENCES = (
    "observation: 9 T keypoints + agent position (low-dimensional) instead of two 84 px frames",
    "chunk: 16 predicted targets, 6 executed (the paper predicts H = 8)",
    "decoder: the paper's transformer with one token per 4 consecutive actions (4 tokens a chunk)",
    "actions: absolute agent targets instead of per-step position differences",
    "data: every demonstration also trained on mirrored across the goal T's axis (2x the demos)",
)


def course_recipe(
    sde: str,
    *,
    fast: bool | None = None,
    steps: int | None = None,
    minutes: float | None = None,
) -> tuple[PolicyConfig, TrainConfig]:
    """Policy and training settings of the course for ``sde`` (fast mode shrinks only the steps).

    ``minutes`` trains for a wall-clock budget instead of a step count: the steps, warm-up and
    cosine decay are fitted to it when the run starts (``course_lib.train``). The learning rate is
    ``RECIPE_LR[sde]`` (``DEFAULT_LR`` for the other processes).
    """
    fast = config.FAST if fast is None else fast
    total = steps if steps is not None else (FAST_STEPS if fast else FULL_STEPS)
    policy = PolicyConfig(
        sde=sde,
        obs_type="keypoints",
        horizon=16,
        n_action_steps=EXECUTED_STEPS,
        decoder=RECIPE_DECODER,
    )
    train = TrainConfig(
        steps=total,
        batch_size=256,
        lr=RECIPE_LR.get(sde, DEFAULT_LR),
        ema_decay=0.999,
        minutes=minutes,
        mirror=True,
    )
    return policy, train


def recipe_changes(trained: Mapping[str, Any], train_cfg: TrainConfig) -> dict[str, tuple]:
    """The ``RECIPE_FIELDS`` in which a run's recorded ``train_config`` differs from ``train_cfg``,
    as {field: (trained with, now)}; a field the run did not record counts as changed."""
    now = dataclasses.asdict(train_cfg)
    return {f: (trained.get(f), now[f]) for f in RECIPE_FIELDS if trained.get(f) != now[f]}

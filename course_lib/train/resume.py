"""Resuming a run: the checkpoint's settings checked against the ones asked for, the run started
afresh or from the checkpoint (``start``), and the EMA policy exported from an unfinished run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from course_lib.checkpoints import TRAINING_FORMAT
from course_lib.policy import ROLLOUT_FIELDS, PolicyConfig, atomic_torch_save, read_checkpoint
from course_lib.train.budget import fit_to_budget
from course_lib.train.config import RESUMABLE_CHANGES, ResumeConflict, TrainConfig
from course_lib.train.run import Run


def saved_train_config(state: dict[str, Any], path: Path) -> dict[str, Any]:
    if state.get("format") != TRAINING_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint")
    return json.loads(state["train_config"])


def check_resume(
    saved_policy: dict[str, Any],
    saved_train: dict[str, Any],
    policy_cfg: PolicyConfig,
    train_cfg: TrainConfig,
    run_dir: Path,
) -> TrainConfig:
    """The config to resume with, or a ``ResumeConflict`` naming every setting that changed.

    A budget run resumes with the step count and schedule it fitted (same ``minutes``); the
    policy's rollout settings (``ROLLOUT_FIELDS``: executed steps, sampler) may change.
    """
    asked = dataclasses.asdict(policy_cfg)
    changed = sorted(
        k
        for k in set(saved_policy) | set(asked)
        if k not in ROLLOUT_FIELDS and saved_policy.get(k) != asked.get(k)
    )
    if changed:
        raise ResumeConflict(
            f"{run_dir} holds a run with another policy config (differs in {', '.join(changed)}: "
            f"{ {k: saved_policy.get(k) for k in changed} }); use another run directory, or --fresh "
            "(resume=False) to start over"
        )
    if train_cfg.minutes is not None and saved_train.get("minutes") == train_cfg.minutes:
        # the count fitted when it started (and again after warm-up), with the schedule lengths
        # that followed from the first fit
        fitted = {
            k: saved_train[k] for k in ("warmup", "val_every") if getattr(train_cfg, k) is None
        }
        train_cfg = dataclasses.replace(train_cfg, steps=saved_train["steps"], **fitted)
    wanted = dataclasses.asdict(train_cfg.resolved())
    # a setting newer than the checkpoint ran at its default (e.g. mirror: False)
    ran = {f.name: f.default for f in dataclasses.fields(TrainConfig)} | saved_train
    changed = sorted(k for k in wanted if k not in RESUMABLE_CHANGES and ran.get(k) != wanted[k])
    if changed:
        detail = ", ".join(f"{k}: {ran.get(k)} -> {wanted[k]}" for k in changed)
        raise ResumeConflict(
            f"{run_dir} holds a run at different settings ({detail}); resuming would not give "
            "the run it started. Use --fresh (resume=False) to start over, or another run "
            "directory"
        )
    return TrainConfig(**{**saved_train, **{k: wanted[k] for k in RESUMABLE_CHANGES}})


def set_aside(run_dir: Path) -> Path:
    """Rename ``run_dir`` to the first free ``<name>-stale-<k>`` and return that path: a run that
    is no longer wanted is kept for comparison, never deleted."""
    k = 1
    while (stale := run_dir.with_name(f"{run_dir.name}-stale-{k}")).exists():
        k += 1
    run_dir.rename(stale)
    return stale


def clean_leftovers(run_dir: Path, fresh: bool) -> None:
    """Remove temporary files of interrupted writes; on a fresh start also the old results, so that
    nothing of an earlier run can pass for the new one's."""
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    if fresh:
        for name in ("policy.pt", "checkpoint.pt", "loss.csv"):
            (run_dir / name).unlink(missing_ok=True)


def start(
    run: Run, policy_cfg: PolicyConfig, train_cfg: TrainConfig, resume: bool, t_call: float
) -> dict[str, float]:
    """Resume from the checkpoint or start afresh (fitting ``steps`` to a budget); returns the budget.

    Rank 0 reads the checkpoint and decides; the other ranks get its decision and state (less the
    EMA, which only rank 0 keeps), so the run directory need not be visible to them.
    """
    group = run.group
    plan = None
    if group.is_main and resume and run.ckpt_path.exists():
        state = read_checkpoint(run.ckpt_path)
        saved = saved_train_config(state, run.ckpt_path)
        cfg = check_resume(
            json.loads(state["policy"]["config"]), saved, policy_cfg, train_cfg, run.run_dir
        )
        plan = (cfg, state)
    if group.is_distributed:
        shared = group.broadcast(
            None if plan is None else (plan[0], {k: v for k, v in plan[1].items() if k != "ema"})
        )
        plan = plan if group.is_main else shared
    if plan is not None:
        cfg, state = plan
        run.fix_schedule(cfg)
        run.load(state)
        return run.policy.metadata.get("budget", {})
    cfg, budget = train_cfg, {}
    if train_cfg.minutes is not None:
        cfg, budget = fit_to_budget(run, train_cfg, t_call)
        run.policy.metadata["budget"] = budget
    run.fix_schedule(cfg.resolved())
    return budget


def export_policy(run_dir: str | Path) -> Path:
    """Write ``policy.pt`` from the EMA weights of an unfinished run's ``checkpoint.pt``.

    For runs stopped before their last step (time budget, Ctrl-C): the metadata records the step
    reached and the planned total, so a table built from it says so.
    """
    run_dir = Path(run_dir)
    state = read_checkpoint(run_dir / "checkpoint.pt")
    planned = saved_train_config(state, run_dir / "checkpoint.pt")
    payload = dict(state["policy"])
    metadata = json.loads(payload["metadata"])
    metadata.update(
        train_config=planned,
        steps=int(state["step"]),
        train_seconds=round(float(state["elapsed"]), 1),
        stopped_early=int(state["step"]) < planned["steps"],
    )
    payload["metadata"] = json.dumps(metadata)
    return atomic_torch_save(payload, run_dir / "policy.pt")

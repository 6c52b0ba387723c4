"""Closed-loop evaluation on PushT with the Diffusion Policy protocol (../shared/PUSHT.md).

All episodes run side by side in one ``EnvBatch``: every ``n_action_steps`` environment steps the
policy is called once on the observation histories of the episodes still running (one batched
reverse-time solve), and the first ``n_action_steps`` targets of each chunk are executed.

Metrics: an episode's score is its max reward; ``mean_score`` is the mean over episodes, as is
``success_rate`` (coverage > 0.95 reached) and ``mean_final_coverage``; ``score_ci`` (percentile
bootstrap) and ``success_ci`` (Wilson) are their 95 % intervals. ``smoothness`` is the mean
squared jerk of the executed targets, mean over episodes of mean_t ||a_{t+3} - 3a_{t+2} + 3a_{t+1} - a_t||^2
(pixels^2 per step^3) of the targets as the environment applies them (clipped to the world). ``latency_ms`` is the wall time of one batched policy call divided by the
number of chunks it produced.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.metrics import bootstrap_mean_interval, wilson_interval
from course_lib.outputs import ensure_writable_dir
from course_lib.policy import sampler_choice
from course_lib.pusht import MAX_STEPS, TEST_SEEDS, WORLD_SIZE, EnvBatch


def squared_jerk(targets: np.ndarray) -> float:
    """Mean squared third difference of a (T, 2) target sequence; 0 for fewer than 4 targets."""
    targets = np.asarray(targets, dtype=np.float64)
    if len(targets) < 4:
        return 0.0
    jerk = np.diff(targets, n=3, axis=0)
    return float(np.mean(np.sum(jerk**2, axis=-1)))


class _History:
    """The last ``n_obs`` observations of every episode (the first one repeated at reset)."""

    def __init__(self, first: Any, n_obs: int):
        self.frames = [first] * n_obs

    def push(self, obs: Any) -> None:
        self.frames = [*self.frames[1:], obs]

    def stacked(self, rows: np.ndarray) -> Any:
        """History of the selected episodes: (len(rows), n_obs, ...) or a dict of those."""
        if isinstance(self.frames[0], dict):
            return {k: np.stack([f[k][rows] for f in self.frames], axis=1) for k in self.frames[0]}
        return np.stack([f[rows] for f in self.frames], axis=1)


def evaluate(
    policy,
    seeds: Sequence[int] = TEST_SEEDS,
    solver: str | None = None,
    steps: int | None = None,
    *,
    max_steps: int = MAX_STEPS,
    n_action_steps: int | None = None,
    sample_seed: int = 0,
    gif_dir: str | Path | None = None,
    gif_episodes: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Roll ``policy`` out on ``seeds`` (legacy reset) and return the protocol's metrics.

    ``solver``/``steps`` of None mean the policy's own (0 or "" are errors). ``gif_dir`` with
    ``gif_episodes > 0`` saves the first ``gif_episodes`` rollouts as GIFs; the directory is checked
    for writing before any rollout. The result also holds per-episode arrays.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("evaluate needs at least one seed")
    n_exec = policy.cfg.n_action_steps if n_action_steps is None else n_action_steps
    if not 1 <= n_exec <= policy.cfg.horizon:
        raise ValueError(f"n_action_steps must be in [1, {policy.cfg.horizon}], got {n_exec}")
    solver, steps = sampler_choice(policy.cfg, solver, steps)
    if gif_episodes < 0 or (gif_episodes and gif_dir is None):
        raise ValueError(
            f"gif_episodes={gif_episodes} needs a gif_dir and must be >= 0 (no GIF is written "
            "without a directory)"
        )
    if gif_dir is not None and gif_episodes:
        ensure_writable_dir(gif_dir, "gif_dir")
    generator = torch.Generator(device=policy.device).manual_seed(sample_seed)

    batch = EnvBatch(len(seeds), obs_type=policy.obs_type)
    history = _History(batch.reset(seeds), policy.cfg.n_obs)
    n = len(seeds)
    max_reward = np.zeros(n)
    final_coverage = np.zeros(n)
    success = np.zeros(n, dtype=bool)
    executed: list[list[np.ndarray]] = [[] for _ in range(n)]
    frames: list[list[np.ndarray]] = [[] for _ in range(min(gif_episodes, n))] if gif_dir else []
    call_seconds, n_chunks = 0.0, 0
    t = 0
    bar = tqdm(total=max_steps, disable=not progress, desc=f"eval {solver}-{steps}", leave=False)
    while t < max_steps and not batch.done.all():
        rows = np.flatnonzero(~batch.done)
        start = time.perf_counter()
        chunk = policy.act(history.stacked(rows), solver=solver, steps=steps, generator=generator)
        call_seconds += time.perf_counter() - start
        n_chunks += len(rows)
        for k in range(n_exec):
            if t >= max_steps or batch.done.all():
                break
            actions = np.zeros((n, 2), dtype=np.float64)
            actions[rows] = chunk[:, k]
            running = ~batch.done
            obs, reward, terminated, truncated, info = batch.step(actions)
            for i in np.flatnonzero(running):  # the environment clips targets to the world
                executed[i].append(np.clip(actions[i], 0.0, WORLD_SIZE))
            max_reward = np.maximum(max_reward, reward)
            final_coverage = np.asarray(info["coverage"], dtype=np.float64)
            success |= np.asarray(info["is_success"], dtype=bool)
            history.push(obs)
            for i, store in enumerate(frames):
                if running[i]:
                    store.append(batch.frame(i))
            t += 1
            bar.update(1)
    bar.close()

    result = {
        "mean_score": float(max_reward.mean()),
        "success_rate": float(success.mean()),
        "score_ci": bootstrap_mean_interval(max_reward),
        "success_ci": wilson_interval(int(success.sum()), n),
        "mean_final_coverage": float(final_coverage.mean()),
        "smoothness": float(np.mean([squared_jerk(np.array(e)) for e in executed])),
        "latency_ms": 1000.0 * call_seconds / max(n_chunks, 1),
        "call_ms": 1000.0 * call_seconds / max(1, int(np.ceil(t / n_exec))),
        "solver": solver,
        "steps": steps,
        "n_episodes": n,
        "seeds": seeds,
        "episode_scores": max_reward.tolist(),
        "episode_final_coverage": final_coverage.tolist(),
        "episode_success": success.tolist(),
    }
    if gif_dir and frames:
        result["gifs"] = [
            str(p) for p in save_gifs(frames, seeds, Path(gif_dir), tag=f"{solver}{steps}")
        ]
    return result


def save_gifs(
    frames: list[list[np.ndarray]], seeds: Sequence[int], out_dir: Path, tag: str = ""
) -> list[Path]:
    """Write one GIF per episode (10 frames per second, like the 10 Hz control)."""
    import imageio.v3 as iio

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed, episode in zip(seeds, frames, strict=False):
        path = out_dir / f"rollout_{seed}{'_' + tag if tag else ''}.gif"
        iio.imwrite(path, np.stack(episode), duration=100, loop=0)
        paths.append(path)
    return paths

"""Closed-loop evaluation on PushT with the Diffusion Policy protocol (../shared/PUSHT.md).

All episodes run side by side in one ``EnvBatch``: every ``n_action_steps`` environment steps the
policy is called once on the observation histories of the episodes still running (one batched
reverse-time solve), and the first ``n_action_steps`` targets of each chunk are executed.

``evaluate`` returns an :class:`EvalResult`, which reads like the dict it used to be
(``result["mean_score"]``) and gives that dict with ``to_dict()``; with ``record=True`` it also holds
one :class:`Rollout` per episode (states, executed targets, rewards and the sampled chunks).

Metrics: an episode's score is its max reward; ``mean_score`` is the mean over episodes, as is
``success_rate`` (coverage > 0.95 reached) and ``mean_final_coverage``; ``score_ci`` (percentile
bootstrap) and ``success_ci`` (Wilson) are their 95 % intervals. ``smoothness`` is the mean
squared jerk of the executed targets, mean over episodes of mean_t ||a_{t+3} - 3a_{t+2} + 3a_{t+1} - a_t||^2
(pixels^2 per step^3) of the targets as the environment applies them (clipped to the world).
``latency_ms`` is the wall time of one batched policy call divided by the number of chunks it
produced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
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


@dataclass(eq=False)
class Rollout:
    """One closed-loop episode: ``states`` (T + 1, 5), executed ``targets`` (T, 2, clipped to the
    world as the environment applies them), ``rewards`` (T,), and ``plans``: for every policy call
    the step at which it was made and the sampled chunk (horizon, 2)."""

    name: str
    seed: int
    states: np.ndarray
    targets: np.ndarray
    rewards: np.ndarray
    plans: list[tuple[int, np.ndarray]]

    @property
    def score(self) -> float:
        """The episode's score: its max reward."""
        return float(self.rewards.max()) if len(self.rewards) else 0.0

    def plan_at(self, step: int) -> tuple[int, np.ndarray]:
        """The (start step, chunk) being executed at ``step``."""
        return [p for p in self.plans if p[0] <= step][-1]


@dataclass(eq=False)
class EvalResult(Mapping):
    """The protocol's metrics (module doc), per-episode arrays, and optional GIFs and rollouts.

    A read-only mapping over the keys of :meth:`to_dict`, so ``result["mean_score"]`` and
    ``{**result}`` work as for the dict ``evaluate`` returned before; ``rollouts`` (with
    ``record=True``) is an attribute only, not JSON.
    """

    mean_score: float
    success_rate: float
    score_ci: tuple[float, float]
    success_ci: tuple[float, float]
    mean_final_coverage: float
    smoothness: float
    latency_ms: float
    call_ms: float
    solver: str
    steps: int
    n_episodes: int
    seeds: list[int]
    episode_scores: list[float]
    episode_final_coverage: list[float]
    episode_success: list[bool]
    #: Paths of the GIFs written (only when some were).
    gifs: list[str] | None = None
    rollouts: list[Rollout] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The metrics as a JSON-ready dict (``gifs`` only when written; no rollouts)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rollouts"}
        if out["gifs"] is None:
            del out["gifs"]
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


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
    record: bool = False,
) -> EvalResult:
    """Roll ``policy`` out on ``seeds`` (legacy reset) and return the protocol's metrics.

    ``solver``/``steps`` of None mean the policy's own (0 or "" are errors). ``gif_dir`` with
    ``gif_episodes > 0`` saves the first ``gif_episodes`` rollouts as GIFs; the directory is checked
    for writing before any rollout. The result also holds per-episode arrays and, with ``record``,
    one :class:`Rollout` per episode (``result.rollouts``).
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
    tape = _Tape(batch, policy.cfg.sde, seeds) if record else None
    call_seconds, n_chunks = 0.0, 0
    t = 0
    bar = tqdm(total=max_steps, disable=not progress, desc=f"eval {solver}-{steps}", leave=False)
    while t < max_steps and not batch.done.all():
        rows = np.flatnonzero(~batch.done)
        start = time.perf_counter()
        chunk = policy.act(history.stacked(rows), solver=solver, steps=steps, generator=generator)
        call_seconds += time.perf_counter() - start
        n_chunks += len(rows)
        if tape is not None:
            tape.plan(rows, chunk, executed)
        for k in range(n_exec):
            if t >= max_steps or batch.done.all():
                break
            actions = np.zeros((n, 2), dtype=np.float64)
            actions[rows] = chunk[:, k]
            running = ~batch.done
            obs, reward, terminated, truncated, info = batch.step(actions)
            for i in np.flatnonzero(running):  # the environment clips targets to the world
                executed[i].append(np.clip(actions[i], 0.0, WORLD_SIZE))
            if tape is not None:
                tape.step(running, reward)
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

    gifs = None
    if gif_dir and frames:
        gifs = [str(p) for p in save_gifs(frames, seeds, Path(gif_dir), tag=f"{solver}{steps}")]
    return EvalResult(
        mean_score=float(max_reward.mean()),
        success_rate=float(success.mean()),
        score_ci=bootstrap_mean_interval(max_reward),
        success_ci=wilson_interval(int(success.sum()), n),
        mean_final_coverage=float(final_coverage.mean()),
        smoothness=float(np.mean([squared_jerk(np.array(e)) for e in executed])),
        latency_ms=1000.0 * call_seconds / max(n_chunks, 1),
        call_ms=1000.0 * call_seconds / max(1, int(np.ceil(t / n_exec))),
        solver=solver,
        steps=steps,
        n_episodes=n,
        seeds=seeds,
        episode_scores=max_reward.tolist(),
        episode_final_coverage=final_coverage.tolist(),
        episode_success=success.tolist(),
        gifs=gifs,
        rollouts=tape.rollouts(executed) if tape is not None else None,
    )


class _Tape:
    """What ``record=True`` keeps of every episode: states, rewards and the chunks sampled."""

    def __init__(self, batch: EnvBatch, name: str, seeds: list[int]) -> None:
        self.batch, self.name, self.seeds = batch, name, seeds
        self.states = [[s] for s in batch.states()]
        self.rewards: list[list[float]] = [[] for _ in seeds]
        self.plans: list[list[tuple[int, np.ndarray]]] = [[] for _ in seeds]

    def plan(self, rows: np.ndarray, chunk: np.ndarray, executed: list[list[np.ndarray]]) -> None:
        for j, i in enumerate(rows):
            self.plans[i].append((len(executed[i]), np.asarray(chunk[j])))

    def step(self, running: np.ndarray, reward: np.ndarray) -> None:
        for i in np.flatnonzero(running):
            self.states[i].append(self.batch.envs[i].state)
            self.rewards[i].append(float(reward[i]))

    def rollouts(self, executed: list[list[np.ndarray]]) -> list[Rollout]:
        return [
            Rollout(
                name=self.name,
                seed=seed,
                states=np.asarray(self.states[i]),
                targets=np.asarray(executed[i]).reshape(-1, 2),
                rewards=np.asarray(self.rewards[i], dtype=np.float64),
                plans=self.plans[i],
            )
            for i, seed in enumerate(self.seeds)
        ]


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

"""Throughput of the PushT pipeline (printed, never asserted).

Run: ``.venv/bin/python benchmarks/pusht_bench.py``. Figures: env steps/s for state and pixel
observations, wall time of 50 x 300 batched steps (the evaluation protocol minus the policy),
dataset load time, window building time, and frame rendering rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from course_lib.data import load_pusht, make_windows, render_dataset_images
from course_lib.pusht import TEST_SEEDS, EnvBatch, PushTEnv, render_scene


def timed(fn: Callable[[], object], repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def pushing_targets(states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Targets near the block, so most steps involve contacts (the expensive case)."""
    return states[:, 2:4] + rng.normal(0.0, 30.0, (len(states), 2))


def env_steps_per_second(obs_type: str, n_steps: int = 1500) -> float:
    env = PushTEnv(obs_type=obs_type)
    rng = np.random.default_rng(0)

    def run() -> None:
        env.reset(seed=TEST_SEEDS[0])
        for _ in range(n_steps):
            env.step(pushing_targets(env.state[None], rng)[0])

    return n_steps / timed(run)


def batch_protocol_seconds(obs_type: str) -> float:
    batch = EnvBatch(len(TEST_SEEDS), obs_type=obs_type)
    rng = np.random.default_rng(0)

    def run() -> None:
        batch.reset(TEST_SEEDS)
        while not batch.done.all():
            batch.step(pushing_targets(batch.states(), rng))

    return timed(run)


def main() -> None:
    torch.set_num_threads(1)
    print("PushT pipeline benchmark (1 torch thread; shared machines make these noisy)")
    for obs_type in ("state", "keypoints", "pixels"):
        print(f"  env steps/s, {obs_type:>9} obs, pushing:   {env_steps_per_second(obs_type):8.0f}")
    for obs_type in ("state", "keypoints", "pixels"):
        seconds = batch_protocol_seconds(obs_type)
        print(f"  EnvBatch 50 x 300 steps, {obs_type:>9} obs:  {seconds:8.2f} s")
    demos = None

    def load() -> None:
        nonlocal demos
        demos = load_pusht()

    print(f"  load_pusht ({load_pusht().n_frames} frames):         {timed(load, 3):8.3f} s")
    for obs_type in ("keypoints", "pixels"):
        seconds = timed(lambda o=obs_type: make_windows(demos, obs_type=o, horizon=16), 3)
        print(f"  make_windows, all episodes, {obs_type:>9}:  {seconds:8.3f} s")
    state = demos.states[0].astype(np.float64)
    per_frame = timed(lambda: [render_scene(state, 96) for _ in range(500)]) / 500
    print(f"  render_scene 96 px:                    {1 / per_frame:8.0f} frames/s")
    small = demos.subset(range(10))
    seconds = timed(lambda: render_dataset_images(small, 96, cache=False, progress=False))
    print(f"  render_dataset_images, {small.n_frames} frames:    {seconds:8.2f} s (uncached)")


if __name__ == "__main__":
    main()

"""Benchmarks that print figures (never asserted): training samples/s and chunk latency per solver."""

from __future__ import annotations

import time

import torch

from course_lib import config, sdes
from course_lib.data import MinMaxNormalizer
from course_lib.nets import count_parameters
from course_lib.policy import OBS_DIMS, DiffusionPolicy, PolicyConfig
from course_lib.recipes import BUDGET_SAMPLERS, RECIPE_DECODER, TABLE_SOLVERS


def _random_policy(
    decoder: str, sde: str, device: torch.device, obs_type: str = "keypoints"
) -> DiffusionPolicy:
    cfg = PolicyConfig(sde=sde, decoder=decoder, obs_type=obs_type)
    norm_obs = MinMaxNormalizer(torch.zeros(cfg.obs_dim), torch.full((cfg.obs_dim,), 512.0))
    norm_act = MinMaxNormalizer(torch.zeros(2), torch.full((2,), 512.0))
    return DiffusionPolicy(cfg, norm_obs, norm_act).to(device)


def _random_batch(policy: DiffusionPolicy, batch_size: int, device: torch.device) -> dict:
    """Normalised observations in [-1, 1] (plus 84 px images in [0, 1] for image policies)."""
    cfg = policy.cfg
    obs = {"obs": torch.rand(batch_size, cfg.n_obs, cfg.obs_dim, device=device) * 2 - 1}
    if cfg.is_image:
        obs["images"] = torch.rand(batch_size, cfg.n_obs, 3, 84, 84, device=device)
    return obs


def training_throughput(
    decoder: str,
    seconds: float,
    device: torch.device,
    batch_size: int = 256,
    obs_type: str = "keypoints",
) -> float:
    """Optimisation steps on random normalised batches for ``seconds``; returns samples/s."""
    policy = _random_policy(decoder, sdes.DEFAULT, device, obs_type)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    gen = torch.Generator(device=device).manual_seed(0)
    obs = _random_batch(policy, batch_size, device)
    actions = torch.rand(batch_size, policy.cfg.horizon, 2, device=device) * 2 - 1
    done, start = 0, None
    while start is None or time.perf_counter() - start < seconds:
        loss = policy.loss(obs, actions, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if start is None:  # first step is warm-up
            start = time.perf_counter()
        else:
            done += batch_size
    return done / (time.perf_counter() - start)


def chunk_latency_ms(policy: DiffusionPolicy, solver: str, steps: int, repeats: int = 5) -> float:
    """Median wall time of one ``act`` call at batch 1 (keypoint observation)."""
    obs = torch.rand(1, policy.cfg.n_obs, OBS_DIMS["keypoints"]).numpy() * 512
    policy.act(obs, solver=solver, steps=steps)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        policy.act(obs, solver=solver, steps=steps)
        times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times)[len(times) // 2]


def run_bench(seconds: float = 5.0, device: str = "auto") -> None:
    """Print samples/s for each decoder size and batch-1 latency per SDE, solver and step count."""
    dev = config.device(device)
    print(f"device {dev}, torch threads {torch.get_num_threads()}")
    print("\ntraining throughput (batch 256, keypoint observation, VP loss)")
    for decoder in ("tiny", RECIPE_DECODER, "course", "unet", "paper"):
        params = count_parameters(_random_policy(decoder, sdes.DEFAULT, dev))
        print(
            f"  {decoder:8s} {params / 1e6:6.2f}M params  {training_throughput(decoder, seconds, dev):8.0f} samples/s"
        )
    print(
        "\ntraining throughput of the image policy (ResNet-18 + decoder, two 84 px frames, batch 64)"
    )
    for decoder in ("course", "paper"):
        params = count_parameters(_random_policy(decoder, sdes.DEFAULT, dev, "pixels"))
        rate = training_throughput(decoder, seconds, dev, batch_size=64, obs_type="pixels")
        print(f"  {decoder:8s} {params / 1e6:6.2f}M params  {rate:8.1f} samples/s")
    print("\nlatency of one action chunk at batch 1, shipped models, budget samplers")
    from course_lib import shipped

    for sde, (solver, steps) in BUDGET_SAMPLERS.items():
        if sde in shipped.names():
            policy = shipped.load(sde, device=dev)
            print(
                f"  {sde:8s} {policy.cfg.decoder:10s} {solver:6s} N={steps:4d}  "
                f"{chunk_latency_ms(policy, solver, steps, repeats=11):8.1f} ms"
            )
    print(f"\nlatency of one action chunk at batch 1 ({RECIPE_DECODER} decoder, random weights)")
    for sde, solvers in TABLE_SOLVERS.items():
        policy = _random_policy(RECIPE_DECODER, sde, dev).eval()
        for solver, steps in solvers.items():
            print(
                f"  {sde:8s} {solver:6s} N={steps:4d}  {chunk_latency_ms(policy, solver, steps):8.1f} ms"
            )

"""Benchmarks that print figures (never asserted): training samples/s and chunk latency per solver.

The image policy's training throughput is measured per device (the CPU always, the GPU when there
is one) with its throughput options side by side: channels-last, bf16 autocast, both.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext

import torch

from course_lib import config, sdes
from course_lib.data import MinMaxNormalizer
from course_lib.nets import count_parameters
from course_lib.policy import OBS_DIMS, DiffusionPolicy, PolicyConfig
from course_lib.recipes import BUDGET_SAMPLERS, RECIPE_DECODER, TABLE_SOLVERS
from course_lib.train.run import adamw


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_throughput(
    decoder: str,
    seconds: float,
    device: torch.device,
    batch_size: int = 256,
    obs_type: str = "keypoints",
    channels_last: bool = False,
    amp: bool = False,
) -> float:
    """Optimisation steps on random normalised batches for ``seconds``; returns samples/s.

    ``channels_last`` (image policies) and ``amp`` (bf16 autocast of the forward pass) are the
    training options of the same names; the first step is warm-up and the clock waits for the GPU.
    """
    policy = _random_policy(decoder, sdes.DEFAULT, device, obs_type)
    if channels_last and policy.cfg.is_image:
        policy.encoder.use_channels_last()
    opt = adamw(policy, lr=1e-4, weight_decay=1e-4)  # the optimiser training uses
    gen = torch.Generator(device=device).manual_seed(0)
    obs = _random_batch(policy, batch_size, device)
    actions = torch.rand(batch_size, policy.cfg.horizon, 2, device=device) * 2 - 1
    done, start = 0, None
    while start is None or time.perf_counter() - start < seconds:
        with torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext():
            loss = policy.loss(obs, actions, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if start is None:  # first step is warm-up
            _sync(device)
            start = time.perf_counter()
        else:
            done += batch_size
    _sync(device)
    return done / (time.perf_counter() - start)


#: The image policy's throughput options measured side by side: (label, channels_last, amp).
IMAGE_VARIANTS: tuple[tuple[str, bool, bool], ...] = (
    ("fp32", False, False),
    ("channels-last", True, False),
    ("bf16", False, True),
    ("bf16+CL", True, True),
)


def bench_devices(device: str = "auto") -> list[torch.device]:
    """The CPU, plus the GPU asked for (``cuda``, ``cuda:1``) or, with ``auto``, present."""
    chosen = config.device(device)
    return [torch.device("cpu")] + ([chosen] if chosen.type != "cpu" else [])


def image_throughput_rows(
    devices: Sequence[str | torch.device],
    seconds: float = 5.0,
    decoders: Sequence[str] = (RECIPE_DECODER, "paper"),
    batch_size: int | None = None,
) -> list[dict]:
    """Image-policy training samples/s per device and decoder, one column per ``IMAGE_VARIANTS``.

    Batch 64 on the CPU and 256 (the course's) on a GPU unless ``batch_size`` is given.
    """
    rows = []
    for device in devices:
        dev = config.device(device) if isinstance(device, str) else device
        batch = batch_size or (64 if dev.type == "cpu" else 256)
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
        for decoder in decoders:
            row = {"device": f"{dev} ({name})", "decoder": decoder, "batch": batch}
            for label, channels_last, amp in IMAGE_VARIANTS:
                row[label] = training_throughput(
                    decoder, seconds, dev, batch, "pixels", channels_last=channels_last, amp=amp
                )
            rows.append(row)
    return rows


def format_image_throughput(rows: list[dict]) -> str:
    """The rows of ``image_throughput_rows`` as a text table (samples/s)."""
    labels = [label for label, _, _ in IMAGE_VARIANTS]
    lines = [
        "image policy training, samples/s (ResNet-18 + decoder, two 84 px frames, VP loss)",
        f"  {'device':28s} {'decoder':10s} {'batch':>5s}" + "".join(f"{x:>15s}" for x in labels),
    ]
    for row in rows:
        lines.append(
            f"  {row['device'][:28]:28s} {row['decoder']:10s} {row['batch']:5d}"
            + "".join(f"{row[x]:15.1f}" for x in labels)
        )
    return "\n".join(lines)


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
    print()
    print(format_image_throughput(image_throughput_rows(bench_devices(device), seconds)))
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

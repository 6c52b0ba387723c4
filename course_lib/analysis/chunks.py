"""A policy's losses and action chunks, computed for the figures of notebooks 07, 08 and 10.

* 07 training: the expected loss of the paper's objectives (Eqs. 4, 6, 9) at reference networks
  (:func:`loss_levels`) and a network's loss at fixed diffusion times (:func:`loss_by_time`).
* 08 sampling: reverse-time paths of action chunks in world pixels
  (:func:`sample_chunk_trajectories`), and the spread and latency of the sampled chunks per solver
  and step count (:func:`spread_and_latency`).
* 10 beyond the paper: chunks of several models for one demonstration frame (:func:`demo_chunks`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from course_lib.arguments import check_count
from course_lib.paper import PAPER_TABLE1

#: SDEs whose objective is a plain isotropic-kernel regression (paper Eqs. 4, 6, 9).
LOSS_LEVEL_SDES = tuple(PAPER_TABLE1)


def _kernel(sde, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tt = torch.as_tensor(np.asarray(times, dtype=np.float64))
    return sde.mean_coeff(tt).numpy(), sde.std(tt).numpy()


def loss_levels(sde, eigenvalues: np.ndarray, times: np.ndarray) -> dict[str, np.ndarray]:
    """Expected loss per data element at diffusion times ``times`` for three reference networks.

    With x_t = m(t) x_0 + s(t) eps, the VP loss (Eq. 4) is ||eps - eps_theta||^2 and the VE and
    CLD losses (Eqs. 6, 9) are s^2 ||s_theta + eps / s||^2 = ||eps + s s_theta||^2: both compare a
    prediction of eps with eps, the score losses in units scaled by the weight s^2. Per element:

    * ``"zero"``: the output 0 gives E||eps||^2 / D = 1 for every SDE;
    * ``"perfect"``: the exact score leaves E tr Var(eps | x_t) / D. For Gaussian data with
      covariance eigenvalues lambda_i it is (1/D) sum_i m^2 lambda_i / (m^2 lambda_i + s^2). The
      best affine estimate of eps has exactly this error for any law of that covariance and the
      exact posterior mean does no worse, so it bounds the loss of an exact network on the
      demonstrations from above;
    * ``"unit"``: an output of unit variance that ignores its input adds its variance times the
      weight: 1 + 1 for VP (eps units), 1 + s(t)^2 for VE and CLD.
    """
    if sde.name not in LOSS_LEVEL_SDES:
        raise ValueError(
            f"loss_levels covers the paper's objectives {LOSS_LEVEL_SDES}, not {sde.name!r}"
        )
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.ndim != 1 or lam.size == 0 or np.any(lam < 0):
        raise ValueError("eigenvalues must be a non-empty 1-D array of non-negative numbers")
    m, s = _kernel(sde, times)
    signal = (m[:, None] ** 2) * lam[None, :]
    perfect = np.mean(signal / (signal + s[:, None] ** 2), axis=1)
    # a unit change of the output moves the eps estimate by 1/|d output/d eps|: 1 for VP's eps
    # output, s(t) for the score outputs of VE and CLD (score = -eps/s); its weight is the square
    tt = torch.as_tensor(np.asarray(times, dtype=np.float64))
    state = torch.zeros(len(tt), sde.state_factor, dtype=torch.float64)
    output_per_eps = sde.output_from_score(-1.0 / torch.as_tensor(s)[:, None], state, tt)
    weight = 1.0 / output_per_eps[:, 0].numpy() ** 2
    return {"zero": np.ones_like(s), "perfect": perfect, "unit": 1.0 + weight}


@torch.no_grad()
def loss_by_time(
    policy,
    obs: dict[str, torch.Tensor],
    actions: torch.Tensor,
    times: Sequence[float],
    seed: int = 0,
) -> np.ndarray:
    """The policy's training loss (``policy.sde.loss``, Eqs. 4, 6, 9) at each fixed time, mean
    over the batch of normalised observations ``obs`` and action chunks ``actions``."""
    generator = torch.Generator().manual_seed(seed)
    cond = policy.encode(obs)

    def net(x_in, c_noise):
        return policy.decoder(x_in, c_noise, cond)

    return np.array(
        [
            float(policy.sde.loss(net, actions, generator=generator, t=float(t)).mean())
            for t in times
        ]
    )


@dataclass(frozen=True)
class ChunkTrajectories:
    """Reverse-time paths of ``n_samples`` action chunks for one observation, in world pixels.

    ``times`` (K,) are the diffusion times of the path (K = steps + 1, from T down; a final
    denoising step repeats the last time), ``positions`` (K, n_samples, horizon, 2) the action
    part of every state un-normalised to world pixels.
    """

    sde: str
    solver: str
    steps: int
    times: np.ndarray
    positions: np.ndarray
    final_denoised: bool

    @property
    def final(self) -> np.ndarray:
        """The sampled chunks (n_samples, horizon, 2): what ``policy.act`` returns."""
        return self.positions[-1]

    def spread(self) -> np.ndarray:
        """RMS distance of the samples from their mean chunk at every path index (K,), pixels."""
        return rms_spread(self.positions)


def rms_spread(chunks: np.ndarray) -> np.ndarray:
    """RMS distance of sampled chunks (..., n_samples, horizon, 2) from their mean chunk, in the
    chunks' units: sqrt(mean over samples and horizon of ||a - mean a||^2), shape (...)."""
    centred = chunks - chunks.mean(axis=-3, keepdims=True)
    return np.sqrt(np.mean(np.sum(centred**2, axis=-1), axis=(-2, -1)))


def _history_batch(obs_history: Any, n: int) -> np.ndarray:
    hist = np.asarray(obs_history, dtype=np.float32)
    if hist.ndim == 3 and hist.shape[0] == 1:
        hist = hist[0]
    if hist.ndim != 2:
        raise ValueError(
            f"give one observation history (n_obs, D) or (1, n_obs, D), got shape {hist.shape}"
        )
    return np.repeat(hist[None], n, axis=0)


def _check_absolute(policy) -> None:
    if policy.cfg.is_image or policy.cfg.action_kind != "absolute":
        raise ValueError(
            "chunk plots need a low-dimensional policy with absolute actions (the course recipe), "
            f"got obs_type={policy.cfg.obs_type!r}, action_kind={policy.cfg.action_kind!r}"
        )


@torch.no_grad()
def sample_chunk_trajectories(
    policy,
    obs_history: Any,
    *,
    solver: str | None = None,
    steps: int | None = None,
    n_samples: int = 8,
    seed: int = 0,
) -> ChunkTrajectories:
    """Sample ``n_samples`` chunks for one observation history and keep the whole reverse path.

    The batch is the history repeated ``n_samples`` times and the generator is seeded with
    ``seed``, so ``final`` equals ``policy.act`` on that batch with the same generator.
    """
    _check_absolute(policy)
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    solver = solver or policy.cfg.solver
    steps = steps or policy.cfg.steps
    obs = policy.prepare_obs(_history_batch(obs_history, n_samples))
    generator = torch.Generator(device=policy.device).manual_seed(seed)
    _, path = policy.sample_normalized(obs, solver, steps, generator, return_path=True)
    actions = policy.sde.positions(path.states).float().cpu()
    pixels = policy.action_normalizer.unnormalize(actions).numpy()
    return ChunkTrajectories(
        sde=policy.cfg.sde,
        solver=solver,
        steps=steps,
        times=path.times.cpu().numpy(),
        positions=pixels,
        final_denoised=bool(path.final_denoised),
    )


@torch.no_grad()
def spread_and_latency(
    policy,
    obs_history: Any,
    settings: Sequence[tuple[str, int]],
    *,
    n_samples: int = 32,
    seed: int = 0,
    repeats: int = 3,
    demo_chunk: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """For each (solver, steps): the spread of ``n_samples`` sampled chunks (RMS distance from
    their mean, px), their mean distance to ``demo_chunk`` (px, if given), and the latency of one
    ``policy.act`` call at batch 1 (median of ``repeats``, ms)."""
    _check_absolute(policy)
    batch = _history_batch(obs_history, n_samples)
    rows = []
    for solver, steps in settings:
        generator = torch.Generator(device=policy.device).manual_seed(seed)
        chunks = policy.act(batch, solver=solver, steps=steps, generator=generator)
        row = {
            "sde": policy.cfg.sde,
            "solver": solver,
            "steps": int(steps),
            "spread_px": float(rms_spread(chunks)),
        }
        if demo_chunk is not None:
            gap = np.linalg.norm(chunks - np.asarray(demo_chunk)[None], axis=-1)
            row["demo_error_px"] = float(gap.mean())
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            policy.act(batch[:1], solver=solver, steps=steps, generator=generator)
            timings.append(time.perf_counter() - start)
        row["latency_ms"] = 1000.0 * float(np.median(timings))
        rows.append(row)
    return rows


@dataclass
class DemoChunks:
    """Action chunks (n_samples, horizon, 2) in world pixels for one solver, and the wall time."""

    solver: str
    steps: int
    chunks: np.ndarray
    seconds: float


def demo_chunks(
    policy,
    obs_history: np.ndarray,
    solver_steps: Mapping[str, int],
    *,
    n_samples: int = 8,
    seed: int = 0,
) -> list[DemoChunks]:
    """Sample ``n_samples`` chunks for one observation history with each (solver, steps)."""
    check_count(n_samples=n_samples)
    obs = _history_batch(obs_history, n_samples)
    out = []
    for solver, steps in solver_steps.items():
        start = time.perf_counter()
        chunks = policy.act(
            obs, solver=solver, steps=steps, generator=torch.Generator().manual_seed(seed)
        )
        out.append(DemoChunks(solver, steps, chunks, time.perf_counter() - start))
    return out


def chunk_statistics(result: DemoChunks, demo_chunk: np.ndarray) -> dict[str, float]:
    """``rms_px``: root-mean-square distance of the sampled targets to the demonstration's chunk;
    ``roughness_px``: mean |a_{k+1} - 2 a_k + a_{k-1}| along each chunk (0 on a straight, evenly
    spaced path). Both in world pixels, averaged over the samples."""
    chunks = np.asarray(result.chunks, dtype=np.float64)
    demo = np.asarray(demo_chunk, dtype=np.float64)
    if chunks.shape[1:] != demo.shape:
        raise ValueError(f"demo_chunk must have shape {chunks.shape[1:]}, got {demo.shape}")
    rms = float(np.sqrt(((chunks - demo[None]) ** 2).sum(-1).mean()))
    second = np.diff(chunks, n=2, axis=1)
    return {"rms_px": rms, "roughness_px": float(np.linalg.norm(second, axis=-1).mean())}

"""What one optimisation step consumes: normalised windows drawn as batches, the training loss
of a rank's shard of the global batch, the noise generator on the device, and the validation loss."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from course_lib.data import MinMaxNormalizer
from course_lib.data.batches import StepBatches, step_loader, window_frames
from course_lib.policy import DiffusionPolicy
from course_lib.train.config import TrainConfig


class Batches:
    """Normalised training or validation tensors, sampled with a dedicated generator."""

    def __init__(
        self, windows, obs_norm: MinMaxNormalizer, act_norm: MinMaxNormalizer, images, device
    ):
        self.obs = obs_norm.normalize(windows.obs).to(device)
        self.action = act_norm.normalize(windows.action).to(device)
        self.frame_index = getattr(windows, "frame_index", None)
        self.images = images
        self.device = device

    def __len__(self) -> int:
        return self.obs.shape[0]

    def get(
        self,
        idx: torch.Tensor,
        generator: torch.Generator | None,
        train: bool,
        rows: slice | None = None,
    ) -> tuple[dict, torch.Tensor]:
        """Observations of windows ``idx[rows]`` and the actions of all windows ``idx``.

        The random crops are drawn for the whole batch (the generator advances as in a single
        process) and cut from uint8 frames of the kept rows only (``window_frames``).
        """
        frames = None
        if self.images is not None:
            frames = window_frames(
                self.images, self.frame_index, idx, 84, generator if train else None, rows
            )
        return self._on_device(idx, frames, rows)

    def stream(
        self, seed: int, start: int, stop: int, batch_size: int, rows: slice | None, workers: int
    ) -> Iterator[tuple[dict, torch.Tensor]]:
        """Batches ``start`` .. ``stop - 1`` of a run seeded ``seed``, drawn by step number and
        prepared ahead by ``workers`` processes (``course_lib.data.batches``), pinned on CUDA.
        Close the iterator to stop the workers."""
        batches = StepBatches(len(self), batch_size, seed, rows, self.frame_index, self.images)
        pin = self.device.type == "cuda"
        for batch in step_loader(batches, start, stop, workers, pin_memory=pin):
            yield self._on_device(batch["idx"], batch.get("frames"), rows)

    def _on_device(
        self, idx: torch.Tensor, frames: torch.Tensor | None, rows: slice | None
    ) -> tuple[dict, torch.Tensor]:
        """uint8 frames (b, n_obs, H, W, 3) go to the device (through pinned memory on CUDA) and
        only there become float (b, n_obs, 3, H, W) in [0, 1]: a quarter of the bytes to copy."""
        rows = rows or slice(None)
        obs = {"obs": self.obs[idx[rows].to(self.device)]}
        if frames is not None:
            if self.device.type == "cuda":
                if not frames.is_pinned():
                    frames = frames.pin_memory()
                frames = frames.to(self.device, non_blocking=True)
            frames = frames.permute(0, 1, 4, 2, 3).contiguous()
            obs["images"] = frames.float() / 255.0
        return obs, self.action[idx.to(self.device)]


class ShardLoss(torch.nn.Module):
    """Mean training loss of ``policy`` on the rows ``rows`` of a global batch (all rows: None).

    The SDE draws the times and noise of the whole global batch from the shared generator, so each
    rank consumes the random numbers a single process would; the network runs on the kept rows
    only (the others get a constant zero output, and their per-sample losses are dropped). The
    per-sample losses are independent (no batch statistics: the image encoder uses GroupNorm), so
    the kept rows' losses equal the single-process ones. As a module, DistributedDataParallel can
    wrap it: the gradient of each shard mean, averaged over equal shards, is that of the global mean.
    """

    def __init__(self, policy: DiffusionPolicy, rows: slice | None):
        super().__init__()
        self.policy = policy
        self.rows = rows

    def forward(
        self, obs: dict[str, torch.Tensor], actions: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        if self.rows is None:
            return self.policy.loss(obs, actions, generator=generator)
        rows, batch = self.rows, actions.shape[0]
        cond = self.policy.encode(obs)

        def net_on_rows(x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
            if c_noise.dim() and c_noise.shape[0] == batch:
                c_noise = c_noise[rows]
            out = self.policy.decoder(x_in[rows], c_noise, cond)
            before = out.new_zeros((rows.start, *out.shape[1:]))
            after = out.new_zeros((batch - rows.stop, *out.shape[1:]))
            return torch.cat([before, out, after])

        return self.policy.sde.loss(net_on_rows, actions, generator=generator)[rows].mean()


def device_generator(cpu_gen: torch.Generator, device: torch.device) -> torch.Generator:
    """Noise comes from the CPU generator on CPU; on CUDA a CUDA generator seeded from it."""
    if device.type == "cpu":
        return cpu_gen
    seed = int(torch.randint(2**62, (1,), generator=cpu_gen).item())
    return torch.Generator(device=device).manual_seed(seed)


@torch.no_grad()
def validation_loss(policy: DiffusionPolicy, batches: Batches | None, cfg: TrainConfig) -> float:
    """Loss of the EMA policy on a fixed set of validation windows with fixed noise (smooth curves)."""
    if batches is None:
        return float("nan")
    policy.eval()
    gen = torch.Generator().manual_seed(12345)
    n = min(len(batches), cfg.val_windows)
    idx = torch.randperm(len(batches), generator=gen)[:n]
    total = 0.0
    for chunk in idx.split(512):
        obs, actions = batches.get(chunk, gen, train=False)
        total += policy.loss(
            obs, actions, generator=device_generator(gen, batches.device)
        ).item() * len(chunk)
    return total / n

"""Training batches numbered by step, so that DataLoader workers can prepare them ahead of the device.

Batch k of a run is a function of the run's seed and k alone: a generator seeded with
``step_seed(seed, k)`` draws the B window indices, uniform over the M windows, then the B crop
offsets (``crop_offsets``: tops, then lefts). The draws are made for the whole global batch and a
rank keeps its rows [r B/W, (r+1) B/W), so W ranks see exactly the batch of one process. Worker
processes can thus prepare batches k+1, k+2, ... while the network trains on batch k, in any
number and any order, and a resumed run starts again at its step with no loader state to save.

Frames are gathered from the memory-mapped image cache (``shared_dataset_images``; a worker maps
the file again instead of receiving a copy) and cropped in uint8: a quarter of the bytes of float
pixels to pin and copy, the conversion to float being left to the device.
"""

from __future__ import annotations

import signal
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from course_lib.data.images import center_crop, crop_offsets, crop_windows


def step_seed(seed: int, step: int) -> int:
    """The seed of batch ``step`` of a run seeded ``seed``: numpy's SeedSequence hash of the pair,
    63 bits (nearby seeds and steps give unrelated streams)."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    state = np.random.SeedSequence([seed % 2**64, step]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def window_frames(
    images: np.ndarray,
    frame_index: torch.Tensor,
    idx: torch.Tensor,
    crop: int = 84,
    generator: torch.Generator | None = None,
    rows: slice | None = None,
) -> torch.Tensor:
    """uint8 crops (b, n_obs, crop, crop, 3) of the frames of windows ``idx[rows]``.

    ``images`` (N, H, W, 3) are the dataset's frames, ``frame_index`` (M, n_obs) each window's
    frames. With a ``generator`` every window gets a random crop, the offsets drawn for all of
    ``idx`` (a rank consumes the random numbers of the whole batch), else the central crop.
    """
    rows = rows or slice(None)
    picked = frame_index[idx[rows]].numpy()
    frames = torch.from_numpy(np.ascontiguousarray(images[picked]))
    if generator is None:
        return center_crop(frames, crop, layout="hwc")
    tops, lefts = crop_offsets(len(idx), images.shape[1], images.shape[2], crop, generator)
    return crop_windows(frames, tops[rows], lefts[rows], crop, layout="hwc")


class StepBatches(Dataset):
    """Item k: batch k of a run, ``{"idx": (B,) window indices, "frames": (b, n_obs, crop, crop, 3)
    uint8}`` (frames for image windows only, and only for this rank's ``rows``).

    Pickled for a worker process, a memory-mapped ``images`` travels as its file name and is mapped
    again on arrival.
    """

    def __init__(
        self,
        n_windows: int,
        batch_size: int,
        seed: int,
        rows: slice | None = None,
        frame_index: torch.Tensor | None = None,
        images: np.ndarray | None = None,
        crop: int = 84,
    ):
        if n_windows < 1 or batch_size < 1:
            raise ValueError(f"need windows and a batch size, got {n_windows} and {batch_size}")
        if (images is None) != (frame_index is None):
            raise ValueError("images and frame_index go together (image windows) or not at all")
        self.n_windows, self.batch_size, self.seed = n_windows, batch_size, seed
        self.rows, self.frame_index, self.images, self.crop = rows, frame_index, images, crop

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(step_seed(self.seed, step))
        idx = torch.randint(self.n_windows, (self.batch_size,), generator=gen)
        batch = {"idx": idx}
        if self.images is not None:
            batch["frames"] = window_frames(
                self.images, self.frame_index, idx, self.crop, gen, self.rows
            )
        return batch

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        images = self.images
        if isinstance(images, np.memmap) and images.filename is not None:
            state["images"] = ("memmap", images.filename, images.offset, images.shape, images.dtype)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        images = state["images"]
        if isinstance(images, tuple) and images[0] == "memmap":
            _, filename, offset, shape, dtype = images
            state["images"] = np.memmap(filename, dtype, mode="c", offset=offset, shape=shape)
        self.__dict__.update(state)


def _worker_init(worker_id: int) -> None:
    """Workers leave Ctrl-C and SIGTERM to the training process (which finishes its step and saves;
    a worker killed by them would fail the next fetch) and use one thread each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(1)


def step_loader(
    batches: StepBatches,
    start: int,
    stop: int,
    num_workers: int,
    pin_memory: bool = False,
    prefetch: int = 4,
) -> DataLoader:
    """Batches ``start`` .. ``stop - 1`` in order, prepared by ``num_workers`` processes (``prefetch``
    batches ahead each; 0 workers: in this process), in pinned memory when ``pin_memory``."""
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    return DataLoader(
        batches,
        batch_size=None,  # an item is a whole batch
        sampler=range(start, stop),
        num_workers=num_workers,
        pin_memory=pin_memory,
        prefetch_factor=prefetch if num_workers else None,
        worker_init_fn=_worker_init if num_workers else None,
    )


__all__ = ["StepBatches", "step_loader", "step_seed", "window_frames"]

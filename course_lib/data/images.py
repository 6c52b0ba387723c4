"""Images re-rendered from the stored states (cached on disk) and the crops of image encoders.

Images are channels-last uint8 (N, H, W, 3) like the environment's ``"pixels"`` observation; the
crops accept channels-last (..., H, W, C) or channels-first (..., C, H, W) tensors.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.data.demos import PushTDemos
from course_lib.data.integrity import load_image_cache
from course_lib.data.store import pusht_cache_dir
from course_lib.pusht import constants as C
from course_lib.pusht.render import RENDER_VERSION, render_scene


def _images_cache_path(states: np.ndarray, size: int) -> Path:
    key = hashlib.sha256(np.ascontiguousarray(states, dtype=np.float32).tobytes())
    key.update(f"size={size};render={RENDER_VERSION}".encode())
    return pusht_cache_dir() / f"images_{size}px_{key.hexdigest()[:16]}.npy"


def render_dataset_images(
    demos: PushTDemos, size: int = C.RENDER_SIZE, cache: bool = True, progress: bool = True
) -> np.ndarray:
    """Every frame re-rendered from its stored state: (N, size, size, 3) uint8, channels last.

    With ``cache`` the frames are kept under the cache directory, keyed by a hash of the states,
    the size and the renderer version, and written atomically; a hit is memory-mapped
    copy-on-write (writable, read lazily), so an epoch never re-renders. A cached file of the wrong
    shape, dtype or size (stale or torn) is rendered again and replaced, with a warning.
    """
    path = _images_cache_path(demos.states, size) if cache else None
    if path is not None and path.exists():
        images = load_image_cache(path, (demos.n_frames, size, size, 3))
        if images is not None:
            return images
        warnings.warn(f"image cache {path} is stale or damaged; rendering it again", stacklevel=2)
    states = demos.states.astype(np.float64)
    images = np.empty((len(states), size, size, 3), dtype=np.uint8)
    for i in tqdm(range(len(states)), desc=f"render {size}px", disable=not progress, leave=False):
        images[i] = render_scene(states[i], size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, images)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return images


def shared_dataset_images(
    demos: PushTDemos, size: int = C.RENDER_SIZE, progress: bool = True
) -> np.memmap:
    """The frames of ``render_dataset_images`` as a memory map of the image cache, rendered first
    when the cache lacks them.

    Every process that maps the file (the ranks of a job on one node, their loader workers) shares
    one copy of its pages in the operating system's page cache, instead of holding 700 MB each at
    96 px. The map is copy-on-write: writing to it changes no file and no other process's frames.
    """
    images = render_dataset_images(demos, size, cache=True, progress=progress)
    if isinstance(images, np.memmap):
        return images
    del images  # just rendered and written: map the file instead of keeping this copy
    path = _images_cache_path(demos.states, size)
    mapped = load_image_cache(path, (demos.n_frames, size, size, 3))
    if mapped is None:
        raise OSError(f"the image cache {path} was written but cannot be read back")
    return mapped


def _spatial_dims(images: torch.Tensor, layout: str) -> tuple[int, int]:
    """(height dim, width dim) of a channels-last or channels-first tensor."""
    if layout == "auto":
        if images.shape[-1] in (1, 3):
            layout = "hwc"
        elif images.dim() >= 3 and images.shape[-3] in (1, 3):
            layout = "chw"
        else:
            raise ValueError(
                f"cannot tell the channel axis of shape {tuple(images.shape)}; pass layout"
            )
    if layout == "hwc":
        return images.dim() - 3, images.dim() - 2
    if layout == "chw":
        return images.dim() - 2, images.dim() - 1
    raise ValueError(f"layout must be one of ('auto', 'hwc', 'chw'), got {layout!r}")


def _crop_at(
    images: torch.Tensor, dims: tuple[int, int], top: int, left: int, crop: int
) -> torch.Tensor:
    return images.narrow(dims[0], top, crop).narrow(dims[1], left, crop)


def _check_crop(images: torch.Tensor, dims: tuple[int, int], crop: int) -> tuple[int, int]:
    height, width = images.shape[dims[0]], images.shape[dims[1]]
    if not 1 <= crop <= min(height, width):
        raise ValueError(f"crop {crop} does not fit images of {height} x {width}")
    return height, width


def crop_offsets(
    batch: int, height: int, width: int, crop: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top and left corners of ``batch`` random ``crop`` windows in ``height`` x ``width`` images,
    uniform over the (H - crop + 1)(W - crop + 1) positions; the tops are drawn first, then the lefts.
    """
    if not 1 <= crop <= min(height, width):
        raise ValueError(f"crop {crop} does not fit images of {height} x {width}")
    tops = torch.randint(0, height - crop + 1, (batch,), generator=generator)
    lefts = torch.randint(0, width - crop + 1, (batch,), generator=generator)
    return tops, lefts


def crop_windows(
    images: torch.Tensor,
    tops: torch.Tensor,
    lefts: torch.Tensor,
    crop: int = 84,
    layout: str = "auto",
) -> torch.Tensor:
    """Element b of ``images`` (axis 0) cut to the window at (tops[b], lefts[b]), the same window for
    all its frames; ``layout`` as in ``random_crop``, which the result keeps."""
    images = torch.as_tensor(images)
    dims = _spatial_dims(images, layout)
    if dims[0] < 1:
        raise ValueError(f"cropping needs a batch axis first, got shape {tuple(images.shape)}")
    _check_crop(images, dims, crop)
    if not len(tops) == len(lefts) == images.shape[0]:
        raise ValueError(
            f"{len(tops)} tops and {len(lefts)} lefts for a batch of {images.shape[0]} elements"
        )
    return torch.stack(
        [
            _crop_at(images[b], (dims[0] - 1, dims[1] - 1), int(tops[b]), int(lefts[b]), crop)
            for b in range(images.shape[0])
        ]
    )


def random_crop(
    images: torch.Tensor,
    crop: int = 84,
    generator: torch.Generator | None = None,
    layout: str = "auto",
) -> torch.Tensor:
    """A random ``crop`` x ``crop`` window per batch element (axis 0), the same for all its frames.

    ``images`` is (B, ..., H, W, C) or (B, ..., C, H, W) (``layout`` "hwc"/"chw", or "auto": the
    axis of size 1 or 3 is the channel axis); the result keeps the layout. The offsets are
    ``crop_offsets(B, H, W, crop, generator)``.
    """
    images = torch.as_tensor(images)
    dims = _spatial_dims(images, layout)
    if dims[0] < 1:
        raise ValueError(f"random_crop needs a batch axis first, got shape {tuple(images.shape)}")
    height, width = _check_crop(images, dims, crop)
    tops, lefts = crop_offsets(images.shape[0], height, width, crop, generator)
    return crop_windows(images, tops, lefts, crop, layout)


def center_crop(images: torch.Tensor, crop: int = 84, layout: str = "auto") -> torch.Tensor:
    """The central ``crop`` x ``crop`` window (offset floor((H - crop) / 2)), any batch shape."""
    images = torch.as_tensor(images)
    dims = _spatial_dims(images, layout)
    height, width = _check_crop(images, dims, crop)
    return _crop_at(images, dims, (height - crop) // 2, (width - crop) // 2, crop)

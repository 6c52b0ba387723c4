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


def random_crop(
    images: torch.Tensor,
    crop: int = 84,
    generator: torch.Generator | None = None,
    layout: str = "auto",
) -> torch.Tensor:
    """A random ``crop`` x ``crop`` window per batch element (axis 0), the same for all its frames.

    ``images`` is (B, ..., H, W, C) or (B, ..., C, H, W) (``layout`` "hwc"/"chw", or "auto": the
    axis of size 1 or 3 is the channel axis); the result keeps the layout.
    """
    images = torch.as_tensor(images)
    dims = _spatial_dims(images, layout)
    if dims[0] < 1:
        raise ValueError(f"random_crop needs a batch axis first, got shape {tuple(images.shape)}")
    height, width = _check_crop(images, dims, crop)
    tops = torch.randint(0, height - crop + 1, (images.shape[0],), generator=generator)
    lefts = torch.randint(0, width - crop + 1, (images.shape[0],), generator=generator)
    return torch.stack(
        [
            _crop_at(images[b], (dims[0] - 1, dims[1] - 1), int(tops[b]), int(lefts[b]), crop)
            for b in range(images.shape[0])
        ]
    )


def center_crop(images: torch.Tensor, crop: int = 84, layout: str = "auto") -> torch.Tensor:
    """The central ``crop`` x ``crop`` window (offset floor((H - crop) / 2)), any batch shape."""
    images = torch.as_tensor(images)
    dims = _spatial_dims(images, layout)
    height, width = _check_crop(images, dims, crop)
    return _crop_at(images, dims, (height - crop) // 2, (width - crop) // 2, crop)

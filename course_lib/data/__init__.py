"""The PushT demonstrations, by job: ``store`` (finding, downloading and reading the zarr store,
validated by ``integrity``), ``demos`` (the arrays, episodes and replays), ``windows`` (training
samples), ``normalise`` (min-max onto [-1, 1]) and ``images`` (re-rendered frames and crops).

Layouts used throughout:
- frames are indexed globally, 0 .. N-1; episode k covers frames episode_ends[k-1] up to
  episode_ends[k] - 1;
- state (N, 5) = agent x, agent y, block x, block y, block angle; action (N, 2) = agent target,
  both in world pixels; action t is the target commanded at frame t, leading to frame t + 1;
- images are channels-last uint8 (N, H, W, 3) like the environment's ``"pixels"`` observation; the
  crops accept channels-last (..., H, W, C) or channels-first (..., C, H, W) tensors.
"""

from course_lib.data.demos import (
    PushTDemos,
    episode_start_state,
    episode_statistics,
    split_episodes,
)
from course_lib.data.images import center_crop, random_crop, render_dataset_images
from course_lib.data.integrity import DataIntegrityError
from course_lib.data.normalise import MinMaxNormalizer
from course_lib.data.store import (
    PUSHT_ARCHIVE_SHA256,
    PUSHT_ARCHIVE_URL,
    SHARED_DATA_PATH,
    STORE_NAMES,
    DataNotFoundError,
    download_pusht,
    find_store,
    load_pusht,
    pusht_cache_dir,
    read_pusht_store,
)
from course_lib.data.windows import (
    ACTION_KINDS,
    Windows,
    absolute_to_delta,
    delta_to_absolute,
    make_windows,
)

__all__ = [
    "ACTION_KINDS",
    "PUSHT_ARCHIVE_SHA256",
    "PUSHT_ARCHIVE_URL",
    "SHARED_DATA_PATH",
    "STORE_NAMES",
    "DataIntegrityError",
    "DataNotFoundError",
    "MinMaxNormalizer",
    "PushTDemos",
    "Windows",
    "absolute_to_delta",
    "center_crop",
    "delta_to_absolute",
    "download_pusht",
    "episode_start_state",
    "episode_statistics",
    "find_store",
    "load_pusht",
    "make_windows",
    "pusht_cache_dir",
    "random_crop",
    "read_pusht_store",
    "render_dataset_images",
    "split_episodes",
]

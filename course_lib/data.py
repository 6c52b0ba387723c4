"""The PushT demonstrations: finding and loading them, episodes, training windows, normalisation,
and images re-rendered from the stored states.

Layouts used throughout:
- frames are indexed globally, 0 .. N-1; episode k covers frames episode_ends[k-1] up to
  episode_ends[k] - 1;
- state (N, 5) = agent x, agent y, block x, block y, block angle; action (N, 2) = agent target,
  both in world pixels; action t is the target commanded at frame t, leading to frame t + 1;
- images are channels-last uint8 (N, H, W, 3) like the environment's ``"pixels"`` observation; the
  crops accept channels-last (..., H, W, C) or channels-first (..., C, H, W) tensors.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import config
from course_lib.data_integrity import (
    DataIntegrityError,  # noqa: F401 - re-exported: course_lib.data.DataIntegrityError
    check_chunks_present,
    check_demo_arrays,
    load_image_cache,
    read_array,
    read_zarray,
    verify_manifest,
)
from course_lib.pusht import constants as C
from course_lib.pusht.geometry import coverage_batch, reward_from_coverage
from course_lib.pusht.observations import observe
from course_lib.pusht.render import RENDER_VERSION, render_scene
from course_lib.pusht.replay import replay
from course_lib.pusht.reset import legacy_landing_state, legacy_raw_state, legacy_reset_state

# ----------------------------------------------------------------------------------- locations

#: The full demonstration set (with images) as published by the Diffusion Policy authors.
PUSHT_ARCHIVE_URL = "https://diffusion-policy.cs.columbia.edu/data/training/pusht.zip"
#: SHA-256 of that archive. Not recorded: this project was built without network access, so the
#: first download verifies the zip's own CRCs and the store's layout, and writes the digest it saw
#: beside the store (``<store>.sha256``). Pass ``sha256=`` to ``download_pusht`` to pin it.
PUSHT_ARCHIVE_SHA256: str | None = None
#: Store names looked for inside a folder: the full set, then the low-dimensional copy.
STORE_NAMES = ("pusht_cchi_v7_replay.zarr", "pusht_cchi_v7_replay_lowdim.zarr")
#: The read-only copy beside the project (a development convenience; CI has it there too).
SHARED_DATA_PATH = (
    config.PROJECT_ROOT.parent / "shared" / "data" / "pusht" / "pusht_cchi_v7_replay_lowdim.zarr"
)

_REQUIRED = {  # zarr path -> trailing shape after the leading frame/episode axis
    "data/state": (5,),
    "data/action": (2,),
    "data/keypoint": (C.N_KEYPOINTS, 2),
    "data/n_contacts": (1,),
    "meta/episode_ends": (),
}


class DataNotFoundError(FileNotFoundError):
    """No demonstration set was found or could be downloaded."""


def pusht_cache_dir() -> Path:
    """Where downloads and rendered images are kept: ``config.cache_dir() / "pusht"``."""
    return config.cache_dir() / "pusht"


def _is_zarr_group(path: Path) -> bool:
    return path.is_dir() and ((path / ".zgroup").exists() or (path / "zarr.json").exists())


def find_store(path: str | os.PathLike) -> Path | None:
    """``path`` if it is a zarr group, else a ``STORE_NAMES`` store inside it or its ``pusht/``."""
    path = Path(path).expanduser()
    if _is_zarr_group(path):
        return path
    for folder in (path, path / "pusht"):
        for name in STORE_NAMES:
            if _is_zarr_group(folder / name):
                return folder / name
    return None


# ----------------------------------------------------------------------------------- download


def _fetch(url: str, out: Path, progress: bool, timeout: float) -> str:
    """Stream ``url`` into ``out`` with a progress bar; return the SHA-256 hex digest."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(out, "wb") as sink:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total, unit="B", unit_scale=True, desc="pusht.zip", disable=not progress
        ) as bar:
            while chunk := response.read(1 << 20):
                sink.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


def download_pusht(
    dest: str | os.PathLike | None = None,
    url: str = PUSHT_ARCHIVE_URL,
    sha256: str | None = PUSHT_ARCHIVE_SHA256,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download and unpack the PushT archive into ``dest`` (the cache); return the zarr store.

    The archive is checked against ``sha256`` when given, and its CRCs are tested; the store is
    moved into place only once complete, so an interrupted download leaves nothing half-written.
    Raises ``OSError`` when the URL cannot be read and ``ValueError`` for a bad archive.
    """
    dest = Path(dest) if dest is not None else pusht_cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        archive = Path(tmp) / "pusht.zip"
        try:
            digest = _fetch(url, archive, progress, timeout)
        except OSError as exc:
            raise OSError(f"could not download {url}: {exc}") from exc
        if sha256 is not None and digest != sha256.lower():
            raise ValueError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {digest}")
        unpacked = Path(tmp) / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zf:
                broken = zf.testzip()
                if broken is not None:
                    raise ValueError(f"corrupt member {broken!r} in the archive from {url}")
                zf.extractall(unpacked)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{url} is not a zip archive: {exc}") from exc
        store = find_store(unpacked)
        if store is None:
            raise ValueError(f"the archive from {url} holds none of {STORE_NAMES}")
        final = dest / store.name
        if final.exists():
            shutil.rmtree(final)
        os.replace(store, final)
        (dest / f"{store.name}.sha256").write_text(digest + "\n")
    return final


# ----------------------------------------------------------------------------------- the demos


@dataclass(frozen=True, eq=False)
class PushTDemos:
    """The demonstration arrays, frame-indexed (see the module doc), with their episode ends.

    ``images`` is the full set's lazily read ``data/img`` zarr array (None for the low-dimensional
    copy); the course re-renders frames from the states instead (``render_dataset_images``).
    """

    states: np.ndarray  # (N, 5) float32
    actions: np.ndarray  # (N, 2) float32
    keypoints: np.ndarray  # (N, 9, 2) float32
    n_contacts: np.ndarray  # (N,) float32
    episode_ends: np.ndarray  # (E,) int64, exclusive
    source: str = ""
    images: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.states)
        expected = {
            "states": (n, 5),
            "actions": (n, 2),
            "keypoints": (n, C.N_KEYPOINTS, 2),
            "n_contacts": (n,),
        }
        for name, shape in expected.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"PushTDemos.{name} must have shape {shape}, got {got}")
        ends = np.asarray(self.episode_ends)
        if (
            ends.ndim != 1
            or len(ends) == 0
            or ends[-1] != n
            or np.any(np.diff(ends) <= 0)
            or ends[0] <= 0
        ):
            raise ValueError(
                f"episode_ends must be increasing positive frame counts ending at N={n}, got {ends}"
            )

    @property
    def n_frames(self) -> int:
        return len(self.states)

    @property
    def n_episodes(self) -> int:
        return len(self.episode_ends)

    @property
    def episode_starts(self) -> np.ndarray:
        return np.concatenate([[0], self.episode_ends[:-1]]).astype(np.int64)

    def episode_slices(self) -> list[slice]:
        """Frame slices of the episodes, in order."""
        return [
            slice(int(s), int(e))
            for s, e in zip(self.episode_starts, self.episode_ends, strict=True)
        ]

    def episode_lengths(self) -> np.ndarray:
        return np.diff(np.concatenate([[0], self.episode_ends])).astype(np.int64)

    def episode_ids(self) -> np.ndarray:
        """Episode of every frame, (N,) int64."""
        return np.repeat(np.arange(self.n_episodes), self.episode_lengths())

    def _check_episode(self, i: int) -> int:
        if not -self.n_episodes <= i < self.n_episodes:
            raise IndexError(f"episode {i} out of range for {self.n_episodes} episodes")
        return int(i) % self.n_episodes

    def episode(self, i: int) -> dict[str, np.ndarray]:
        """Arrays of episode ``i``: ``states``, ``actions``, ``keypoints``, ``n_contacts``."""
        sl = self.episode_slices()[self._check_episode(i)]
        return {
            "states": self.states[sl],
            "actions": self.actions[sl],
            "keypoints": self.keypoints[sl],
            "n_contacts": self.n_contacts[sl],
        }

    def subset(self, episodes: Sequence[int]) -> PushTDemos:
        """A new set holding only ``episodes`` (in the given order); images are dropped."""
        slices = [self.episode_slices()[self._check_episode(i)] for i in episodes]
        if not slices:
            raise ValueError("subset needs at least one episode")
        take = np.concatenate([np.arange(sl.start, sl.stop) for sl in slices])
        lengths = [sl.stop - sl.start for sl in slices]
        return PushTDemos(
            self.states[take],
            self.actions[take],
            self.keypoints[take],
            self.n_contacts[take],
            np.cumsum(lengths).astype(np.int64),
            source=f"{self.source} (episodes {list(episodes)})",
        )


def read_pusht_store(store: str | os.PathLike) -> PushTDemos:
    """Read a Diffusion Policy PushT zarr store (full set or low-dimensional copy), validated.

    The known set must match its SHA-256 manifest; in any store every chunk of the required arrays
    must be present and decodable, values finite and ``episode_ends`` consistent
    (``data_integrity``). Problems raise ``DataIntegrityError`` naming the file and the array.
    """
    import zarr

    store = Path(store)
    verify_manifest(store)
    for key in _REQUIRED:  # before zarr opens the arrays: a broken .zarray is named here
        meta = read_zarray(store, key)
        if meta is not None:
            check_chunks_present(store, key, meta)
    try:
        group = zarr.open_group(str(store), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises several kinds; say what was expected
        raise ValueError(f"{store} is not a readable zarr group: {exc}") from exc
    missing = [key for key in _REQUIRED if key not in group]
    if missing:
        raise ValueError(
            f"{store} lacks the arrays {missing}; a PushT store holds {list(_REQUIRED)}"
        )
    arrays = {key: read_array(store, group[key], key) for key in _REQUIRED}
    for key, trailing in _REQUIRED.items():
        if arrays[key].shape[1:] != trailing:
            raise ValueError(
                f"{store}/{key} has shape {arrays[key].shape}, expected (n, *{trailing})"
            )
    check_demo_arrays(arrays, str(store))
    images = group["data/img"] if "data/img" in group else None
    return PushTDemos(
        states=arrays["data/state"].astype(np.float32),
        actions=arrays["data/action"].astype(np.float32),
        keypoints=arrays["data/keypoint"].astype(np.float32),
        n_contacts=arrays["data/n_contacts"][:, 0].astype(np.float32),
        episode_ends=arrays["meta/episode_ends"].astype(np.int64),
        source=str(store),
        images=images,
    )


def _not_found_message(tried: list[str], reason: str) -> str:
    return (
        "PushT demonstrations not found. Provide them in one of three ways:\n"
        "  1. pass the zarr store: load_pusht('/path/to/pusht_cchi_v7_replay.zarr');\n"
        "  2. set the environment variable COURSE_LIB_DATA to that path;\n"
        f"  3. let load_pusht download {PUSHT_ARCHIVE_URL} into the cache {pusht_cache_dir()}\n"
        "     (set COURSE_LIB_CACHE to move the cache).\n"
        f"Looked in: {', '.join(tried)}. Download: {reason}"
    )


def load_pusht(path: str | os.PathLike | None = None, download: bool = True) -> PushTDemos:
    """Load the demonstrations from, in order: ``path``, ``$COURSE_LIB_DATA``, the cache,
    ``../shared/data/pusht/`` beside the project, or a download into the cache.

    An explicit ``path`` or ``$COURSE_LIB_DATA`` that holds no store is an error (no fallback).
    When nothing works, ``DataNotFoundError`` names the three ways to provide the data.
    """
    explicit = [("path argument", path), ("$COURSE_LIB_DATA", config.data_env_path())]
    for label, candidate in explicit:
        if candidate is None:
            continue
        store = find_store(candidate)
        if store is None:
            raise DataNotFoundError(
                f"{label} {candidate} holds no PushT zarr store (a zarr group with "
                f"{list(_REQUIRED)}, or a folder holding one of {STORE_NAMES})"
            )
        return read_pusht_store(store)
    tried = []
    for candidate in (pusht_cache_dir(), SHARED_DATA_PATH):
        tried.append(str(candidate))
        store = find_store(candidate)
        if store is not None:
            return read_pusht_store(store)
    if not download:
        raise DataNotFoundError(_not_found_message(tried, "disabled (download=False)"))
    try:
        store = download_pusht(url=PUSHT_ARCHIVE_URL, sha256=PUSHT_ARCHIVE_SHA256)
    except (OSError, ValueError) as exc:
        raise DataNotFoundError(_not_found_message(tried, f"failed ({exc})")) from exc
    return read_pusht_store(store)


def split_episodes(
    n_episodes: int, val_fraction: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random split of episode ids into (train, val), both sorted; no episode is in both.

    ``round(val_fraction * n)`` episodes go to validation (at least 1 when the fraction is positive,
    at most n - 1).
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be positive, got {n_episodes}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = (
        0 if val_fraction == 0 else min(max(1, round(val_fraction * n_episodes)), n_episodes - 1)
    )
    order = np.random.default_rng(seed).permutation(n_episodes)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# ----------------------------------------------------------------------------------- replay


def episode_start_state(demos: PushTDemos, i: int, seed: int | None = None) -> np.ndarray:
    """The raw legacy start (5,) of episode ``i``, to pass to ``reset(options={"reset_to_state"})``.

    Diffusion Policy's reset for ``seed`` (default ``i``) when it lands on the stored first state
    within 1e-3 (true of all 206 episodes of the official set: episode k starts from seed k), else
    the legacy setter inverted on the stored first state, which is rounded to float32, so a replay
    from it can drift by a fraction of a pixel where contacts amplify the rounding.
    """
    first = demos.episode(i)["states"][0].astype(np.float64)
    candidate = legacy_reset_state(i if seed is None else seed)
    landed = legacy_landing_state(candidate)
    gap = np.abs(landed - first)
    gap[4] = abs((landed[4] - first[4] + np.pi) % (2 * np.pi) - np.pi)
    return candidate if gap.max() < 1e-3 else legacy_raw_state(first)


def episode_statistics(demos: PushTDemos) -> dict[str, np.ndarray]:
    """Per-episode ``length``, ``final_coverage`` (after replaying the last action, which is not
    stored), ``max_reward`` (over the replayed states) and ``start_coverage``; arrays of (E,)."""
    final, best, start = [], [], []
    for i in range(demos.n_episodes):
        states, _ = replay(episode_start_state(demos, i), demos.episode(i)["actions"])
        cov = coverage_batch(states)
        final.append(cov[-1])
        best.append(float(reward_from_coverage(cov.max())))
        start.append(cov[0])
    return {
        "length": demos.episode_lengths(),
        "final_coverage": np.array(final),
        "max_reward": np.array(best),
        "start_coverage": np.array(start),
    }


# ----------------------------------------------------------------------------------- windows

ACTION_KINDS = ("absolute", "delta")


def absolute_to_delta(actions: Any, agent_pos: Any) -> Any:
    """delta_{t,i} = target_{t+i} - agent position at t, for actions (..., H, 2), agent (..., 2).

    Works on numpy arrays and torch tensors alike.
    """
    return actions - agent_pos[..., None, :]


def delta_to_absolute(deltas: Any, agent_pos: Any) -> Any:
    """target_{t+i} = delta_{t,i} + agent position at t (inverse of ``absolute_to_delta``)."""
    return deltas + agent_pos[..., None, :]


@dataclass
class Windows:
    """Training samples: one per frame t of the chosen episodes.

    ``obs`` (M, n_obs, D) holds frames t-n_obs+1 .. t: the ``observe`` vector for ``"state"`` and
    ``"keypoints"``, the agent position (D = 2) for the pixel kinds, whose frames are
    ``frame_index`` (M, n_obs) into ``render_dataset_images(demos)``. ``action`` (M, horizon, 2)
    holds the targets t .. t+horizon-1, absolute or as ``absolute_to_delta`` offsets from
    ``agent_pos`` (M, 2), the agent position at t. Frames outside the episode repeat its edge frame.
    ``episode`` and ``frame`` (M,) give each sample's episode id and global frame t.
    """

    obs: torch.Tensor
    action: torch.Tensor
    episode: torch.Tensor
    frame: torch.Tensor
    agent_pos: torch.Tensor
    frame_index: torch.Tensor | None
    obs_type: str
    action_kind: str
    n_obs: int
    horizon: int

    def __len__(self) -> int:
        return int(self.obs.shape[0])


def _window_indices(start: int, end: int, offsets: np.ndarray) -> np.ndarray:
    """Frame indices t + offsets for t in [start, end), clipped to the episode (edge padding)."""
    t = np.arange(start, end)[:, None]
    return np.clip(t + offsets[None, :], start, end - 1)


def make_windows(
    demos: PushTDemos,
    episodes: Sequence[int] | np.ndarray | None = None,
    obs_type: str = "keypoints",
    n_obs: int = C.N_OBS_STEPS,
    horizon: int = 16,
    action_kind: str = "absolute",
) -> Windows:
    """Cut the chosen episodes (default: all) into ``Windows``, all in memory."""
    C.validate_obs_type(obs_type)
    if action_kind not in ACTION_KINDS:
        raise ValueError(f"action_kind must be one of {ACTION_KINDS}, got {action_kind!r}")
    if n_obs < 1 or horizon < 1:
        raise ValueError(f"n_obs and horizon must be at least 1, got {n_obs} and {horizon}")
    ids = np.arange(demos.n_episodes) if episodes is None else np.asarray(episodes, dtype=np.int64)
    if ids.ndim != 1 or len(ids) == 0:
        raise ValueError(f"episodes must be a non-empty list of episode ids, got {episodes!r}")
    slices = [demos.episode_slices()[demos._check_episode(int(i))] for i in ids]
    obs_offsets = np.arange(-n_obs + 1, 1)
    act_offsets = np.arange(horizon)
    obs_idx = np.concatenate([_window_indices(s.start, s.stop, obs_offsets) for s in slices])
    act_idx = np.concatenate([_window_indices(s.start, s.stop, act_offsets) for s in slices])
    frame = np.concatenate([np.arange(s.start, s.stop) for s in slices])
    episode = np.concatenate(
        [np.full(s.stop - s.start, i) for s, i in zip(slices, ids, strict=True)]
    )

    states = demos.states.astype(np.float64)
    pixels = obs_type in ("pixels", "pixels_agent_pos")
    features = states[:, :2] if pixels else np.asarray(observe(states, obs_type))
    agent_pos = states[frame, :2]
    action = demos.actions.astype(np.float64)[act_idx]
    if action_kind == "delta":
        action = absolute_to_delta(action, agent_pos)
    return Windows(
        obs=torch.as_tensor(features[obs_idx], dtype=torch.float32),
        action=torch.as_tensor(action, dtype=torch.float32),
        episode=torch.as_tensor(episode, dtype=torch.int64),
        frame=torch.as_tensor(frame, dtype=torch.int64),
        agent_pos=torch.as_tensor(agent_pos, dtype=torch.float32),
        frame_index=torch.as_tensor(obs_idx, dtype=torch.int64) if pixels else None,
        obs_type=obs_type,
        action_kind=action_kind,
        n_obs=n_obs,
        horizon=horizon,
    )


# ----------------------------------------------------------------------------------- normaliser


class MinMaxNormalizer:
    """Per-feature affine map of [low, high] onto [-1, 1]: y = (x - centre) / half_range.

    Features are the last dimension; ``fit`` takes min and max over all leading dimensions. A
    feature whose range is below ``eps`` gets half_range 1, so it maps to 0 instead of blowing up.
    """

    def __init__(self, low: torch.Tensor, high: torch.Tensor, eps: float = 1e-6) -> None:
        low = torch.as_tensor(low, dtype=torch.float32).detach().clone()
        high = torch.as_tensor(high, dtype=torch.float32).detach().clone()
        if low.shape != high.shape or low.dim() != 1:
            raise ValueError(
                f"low and high must be 1-D of equal shape, got {low.shape}, {high.shape}"
            )
        if not torch.all(high >= low):
            raise ValueError("high must be >= low for every feature")
        self.low, self.high = low, high
        half = (high - low) / 2
        self.centre = (high + low) / 2
        self.half_range = torch.where(half < eps, torch.ones_like(half), half)

    @classmethod
    def fit(cls, x: torch.Tensor | np.ndarray) -> MinMaxNormalizer:
        """Min and max of every feature (last dimension) over all other dimensions."""
        flat = torch.as_tensor(x, dtype=torch.float32).reshape(-1, np.shape(x)[-1])
        if len(flat) == 0 or not torch.isfinite(flat).all():
            raise ValueError("fit needs a non-empty, finite tensor")
        return cls(flat.min(dim=0).values, flat.max(dim=0).values)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.shape[-1:] != self.low.shape:
            raise ValueError(
                f"expected last dimension {self.low.shape[0]}, got shape {tuple(x.shape)}"
            )
        return x

    def normalize(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = self._check(x)
        return (x - self.centre.to(x.device)) / self.half_range.to(x.device)

    def unnormalize(self, y: torch.Tensor | np.ndarray) -> torch.Tensor:
        y = self._check(y)
        return y * self.half_range.to(y.device) + self.centre.to(y.device)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors (safe inside a ``weights_only=True`` checkpoint)."""
        return {"low": self.low.clone(), "high": self.high.clone()}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> MinMaxNormalizer:
        missing = {"low", "high"} - set(state)
        if missing:
            raise ValueError(f"normaliser state lacks {sorted(missing)}")
        return cls(state["low"], state["high"])

    def __repr__(self) -> str:
        return f"MinMaxNormalizer(low={self.low.tolist()}, high={self.high.tolist()})"


# ----------------------------------------------------------------------------------- images


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

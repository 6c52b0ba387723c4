"""Integrity of the demonstrations: a store is checked before a single frame is trusted.

zarr reads a missing chunk as its fill value (zeros) and reports a damaged one as
"blosc decompression: -1"; either way a training run would go on with wrong data or fail far from
the cause. Here every problem becomes a ``DataIntegrityError`` naming the file and the array:

1. the known demonstration set (``MANIFEST``: the SHA-256 of every file of
   ``pusht_cchi_v7_replay_lowdim.zarr``) must match file for file;
2. in any zarr v2 store, each required array's ``.zarray`` must parse and every chunk file of its
   grid (ceil(shape / chunks) per axis) must exist;
3. a chunk that does not decode is found and named;
4. the arrays must agree: finite values, ``episode_ends`` positive, strictly increasing and ending
   at the number of frames N;
5. the cached rendered images must have the expected shape, dtype and file size (else rebuilt).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: SHA-256 of every file of the known demonstration stores, by store name.
MANIFEST_PATH = Path(__file__).resolve().parent / "manifests" / "pusht.json"


class DataIntegrityError(ValueError):
    """A demonstration store (or the image cache) is incomplete, damaged or inconsistent."""


# ----------------------------------------------------------------------------------- manifest


def file_digests(store: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every file under ``store``, keyed by its path relative to the store (posix)."""
    store = Path(store)
    return {
        path.relative_to(store).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(store.rglob("*"))
        if path.is_file()
    }


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, dict[str, str]]:
    """``{store name: {relative file: sha256}}`` of the known demonstration sets."""
    return json.loads(path.read_text())["stores"]


def write_manifest(stores: list[Path], path: Path = MANIFEST_PATH) -> Path:
    """Record the digests of ``stores`` (a maintainer's step, run once on the pristine data)."""
    payload = {
        "about": "SHA-256 of every file of the known PushT demonstration stores "
        "(course_lib.data.integrity.verify_manifest checks them on load)",
        "stores": {Path(s).name: file_digests(s) for s in stores},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return path


def _array_of(relative: str) -> str:
    """The array a store file belongs to: ``data/state/5.0`` -> ``data/state``."""
    return relative.rsplit("/", 1)[0] if "/" in relative else "(group)"


#: Stores verified in this process, with the (size, mtime) of their files at the time.
_VERIFIED: dict[Path, tuple] = {}


def _stat_signature(store: Path, files: list[str]) -> tuple:
    stats = [(store / f).stat() if (store / f).is_file() else None for f in files]
    return tuple((s.st_size, s.st_mtime_ns) if s else None for s in stats)


def verify_manifest(store: str | os.PathLike, manifest: Mapping[str, Any] | None = None) -> bool:
    """Check a store named like a known set against its digests; False when it is not known.

    Every listed file must exist with the listed SHA-256 (extra files are ignored). A store
    verified before in this process is not hashed again while its files' sizes and times hold.
    """
    store = Path(store).resolve()
    known = (load_manifest() if manifest is None else manifest).get(store.name)
    if known is None:
        return False
    signature = _stat_signature(store, sorted(known))
    if _VERIFIED.get(store) == signature:
        return True
    for relative, digest in known.items():
        path = store / relative
        if not path.is_file():
            raise DataIntegrityError(
                f"{path} is missing: array {_array_of(relative)!r} of the demonstration set is "
                "incomplete (a deleted chunk would be read as zeros); restore or re-download it"
            )
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise DataIntegrityError(
                f"{path} is damaged: array {_array_of(relative)!r} differs from the known "
                "demonstration set (SHA-256 mismatch); restore or re-download it"
            )
    _VERIFIED[store] = signature
    return True


# ----------------------------------------------------------------------------------- zarr files


def read_zarray(store: Path, key: str) -> dict[str, Any] | None:
    """The parsed ``.zarray`` of array ``key`` (None for a zarr v3 store, which has none)."""
    path = store / key / ".zarray"
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text())
        shape, chunks = list(meta["shape"]), list(meta["chunks"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataIntegrityError(
            f"{path} is broken: array {key!r} has unreadable metadata ({type(exc).__name__}: {exc})"
        ) from exc
    if len(shape) != len(chunks) or any(c < 1 for c in chunks) or any(s < 0 for s in shape):
        raise DataIntegrityError(
            f"{path} is broken: array {key!r} has shape {shape} and chunks {chunks}"
        )
    return meta


def chunk_file(store: Path, key: str, meta: Mapping[str, Any], index: tuple[int, ...]) -> Path:
    """The file of chunk ``index`` of a zarr v2 array (``.`` or ``/`` dimension separator)."""
    separator = meta.get("dimension_separator") or "."
    return store / key / separator.join(str(i) for i in (index or (0,)))


def chunk_grid(meta: Mapping[str, Any]) -> list[tuple[int, ...]]:
    """Every chunk index of the array: prod ceil(shape_i / chunks_i) of them."""
    counts = [math.ceil(s / c) for s, c in zip(meta["shape"], meta["chunks"], strict=True)]
    return list(itertools.product(*(range(n) for n in counts)))


def check_chunks_present(store: Path, key: str, meta: Mapping[str, Any]) -> None:
    """Every chunk file of array ``key`` exists (zarr would silently read a missing one as zeros)."""
    missing = [
        chunk_file(store, key, meta, index)
        for index in chunk_grid(meta)
        if not chunk_file(store, key, meta, index).exists()
    ]
    if missing:
        names = ", ".join(p.name for p in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataIntegrityError(
            f"{store / key}: {len(missing)} chunk file(s) of array {key!r} are missing ({names}); "
            "zarr would read them as zeros. Restore or re-download the store"
        )


def read_array(store: Path, array: Any, key: str) -> np.ndarray:
    """All of a zarr array; a chunk that does not decode is named with its file."""
    try:
        return np.asarray(array[...])
    except Exception as exc:  # noqa: BLE001 - codecs raise RuntimeError, ValueError, ...
        raise DataIntegrityError(_locate_bad_chunk(store, array, key, exc)) from exc


def _locate_bad_chunk(store: Path, array: Any, key: str, error: Exception) -> str:
    meta = read_zarray(store, key)
    if meta is not None:
        for index in chunk_grid(meta):
            region = tuple(
                slice(i * c, min((i + 1) * c, s))
                for i, c, s in zip(index, meta["chunks"], meta["shape"], strict=True)
            )
            try:
                array[region]
            except Exception as exc:  # noqa: BLE001
                return (
                    f"{chunk_file(store, key, meta, index)} is damaged: chunk {index} of array "
                    f"{key!r} cannot be decoded ({type(exc).__name__}: {exc})"
                )
    return f"{store / key}: array {key!r} cannot be read ({type(error).__name__}: {error})"


# ----------------------------------------------------------------------------------- contents


def check_demo_arrays(arrays: Mapping[str, np.ndarray], source: str) -> None:
    """Finite float arrays of one length N and ``meta/episode_ends`` positive, strictly increasing
    and ending at N; the message names the array."""
    ends = np.asarray(arrays["meta/episode_ends"])
    frames = {key: len(value) for key, value in arrays.items() if key.startswith("data/")}
    if len(set(frames.values())) > 1:
        raise DataIntegrityError(f"{source}: the arrays have different lengths {frames}")
    n = next(iter(frames.values()))
    for key, value in arrays.items():
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            bad = np.argwhere(~np.isfinite(value))[0].tolist()
            raise DataIntegrityError(
                f"{source}/{key}: {int((~np.isfinite(value)).sum())} NaN or inf values "
                f"(first at index {bad})"
            )
    if not np.issubdtype(ends.dtype, np.integer) or ends.ndim != 1 or len(ends) == 0:
        raise DataIntegrityError(
            f"{source}/meta/episode_ends must be a non-empty 1-D integer array, got "
            f"{ends.dtype} of shape {ends.shape}"
        )
    steps = np.diff(np.concatenate([[0], ends]))
    if np.any(steps <= 0):
        k = int(np.argmax(steps <= 0))
        raise DataIntegrityError(
            f"{source}/meta/episode_ends must be positive and strictly increasing; "
            f"entry {k} is {int(ends[k])} after {int(ends[k - 1]) if k else 0}"
        )
    if ends[-1] != n:
        raise DataIntegrityError(
            f"{source}/meta/episode_ends ends at {int(ends[-1])}, but the arrays hold N={n} frames"
        )


# ----------------------------------------------------------------------------------- image cache


def load_image_cache(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached images memory-mapped copy-on-write, or None when the file is unreadable or not
    exactly ``shape`` uint8 with no bytes missing or left over (a stale or torn cache)."""
    try:
        images = np.load(path, mmap_mode="c")
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(images, np.memmap) or images.dtype != np.uint8 or images.shape != shape:
        return None
    if path.stat().st_size != images.offset + images.nbytes:
        return None
    return images

"""Finding, downloading and reading the PushT zarr store, validated before a frame is trusted.

``load_pusht`` (contract) looks in a path, ``$COURSE_LIB_DATA``, the cache and the shared copy, and
downloads into the cache when none holds a store; ``read_pusht_store`` checks the store with
``integrity`` and returns ``PushTDemos``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from course_lib import config
from course_lib.data.demos import PushTDemos
from course_lib.data.integrity import (
    check_chunks_present,
    check_demo_arrays,
    read_array,
    read_zarray,
    verify_manifest,
)
from course_lib.pusht import constants as C

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


def read_pusht_store(store: str | os.PathLike) -> PushTDemos:
    """Read a Diffusion Policy PushT zarr store (full set or low-dimensional copy), validated.

    The known set must match its SHA-256 manifest; in any store every chunk of the required arrays
    must be present and decodable, values finite and ``episode_ends`` consistent
    (``integrity``). Problems raise ``DataIntegrityError`` naming the file and the array.
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

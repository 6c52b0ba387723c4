"""Fail early: check that output folders and files can be written before any long work starts.

A check creates what is missing (the folder, or the file's parent folders) and writes then removes a
probe file there, so an evaluation never runs for minutes only to fail on its last line. Problems
raise ``UnwritablePathError`` with the option's name, the path and the reason.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class UnwritablePathError(OSError):
    """An output path cannot be written (a file where a folder is needed, no permission...)."""


def _probe(folder: Path, what: str) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise UnwritablePathError(
            f"{what}: cannot write in {folder} ({exc.strerror or exc})"
        ) from exc


def ensure_writable_dir(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a writable folder (created if missing); ``what`` names it in errors."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UnwritablePathError(f"{what}: {path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnwritablePathError(
            f"{what}: cannot create the directory {path} ({exc.strerror or exc})"
        ) from exc
    _probe(path, what)
    return path


def check_writable_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` can be written as a file: not a folder, its parent folder writable (created)."""
    path = Path(path)
    if path.is_dir():
        raise UnwritablePathError(f"{what}: {path} is a directory, not a file")
    ensure_writable_dir(path.parent, what)
    if path.exists() and not os.access(path, os.W_OK):
        raise UnwritablePathError(f"{what}: {path} exists and is read-only")
    return path

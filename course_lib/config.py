"""One place for run-time settings: fast mode, data and cache paths, device choice."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch


def fast_from_env(environ: Mapping[str, str] = os.environ) -> bool:
    """Fast mode is on when ``CI`` is set (CI sets ``CI=true``) or ``COURSE_FAST`` is set and not 0."""
    return bool(environ.get("CI")) or environ.get("COURSE_FAST", "") not in ("", "0")


#: Fast mode shrinks training in notebooks; the library code paths stay the same.
FAST: bool = fast_from_env()

#: Project root when running from a checkout (used to find ``../shared`` and ``figures/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The tracked results: tables, loss CSVs and full-mode figures (``reproduce`` writes them here,
#: notebooks read them from here).
FIGURES_DIR = Path(os.environ.get("COURSE_FIGURES", PROJECT_ROOT / "figures"))


def cache_dir() -> Path:
    """User cache directory for downloads, rendered images and runs (``$COURSE_LIB_CACHE``)."""
    explicit = os.environ.get("COURSE_LIB_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "course_lib"


def figures_output_dir() -> Path:
    """Where notebooks save figures: ``FIGURES_DIR`` in full mode or when ``$COURSE_FIGURES`` names
    it (a copy, as the book build makes); otherwise in fast mode ``$COURSE_FAST_FIGURES`` or
    ``cache_dir() / "figures-fast"``, so fast runs (``make test``) never overwrite the tracked
    full-mode figures."""
    if not FAST or os.environ.get("COURSE_FIGURES"):
        return FIGURES_DIR
    explicit = os.environ.get("COURSE_FAST_FIGURES")
    return Path(explicit) if explicit else cache_dir() / "figures-fast"


def data_env_path() -> Path | None:
    """The demonstration set named by ``$COURSE_LIB_DATA``, if set."""
    value = os.environ.get("COURSE_LIB_DATA")
    return Path(value) if value else None


def device(name: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"`` to CUDA when present, else CPU; pass anything else through torch."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} requested but CUDA is not available; use 'auto' or 'cpu'"
        )
    return dev

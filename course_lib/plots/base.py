"""Shared figure plumbing: one style, one place where figures are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

from course_lib import config


def new_figure(
    nrows: int = 1, ncols: int = 1, **kwargs: Any
) -> tuple[matplotlib.figure.Figure, Any]:
    """``plt.subplots(nrows, ncols, **kwargs)`` with the figure let go of by pyplot at once.

    A course figure shows where a notebook shows it: as its cell's value or through ``display``.
    Left open in pyplot, the inline backend would show it a second time when the cell ends, and a
    widget's redraws would pile up open figures. (A figure made outside pyplot would not show at
    all: pyplot is what installs the inline backend's display of figures.)
    """
    fig, axes = plt.subplots(nrows, ncols, **kwargs)
    plt.close(fig)
    return fig, axes


def save_figure(
    fig: matplotlib.figure.Figure,
    name: str,
    *,
    dpi: int = 120,
    directory: str | Path | None = None,
) -> Path:
    """Write ``fig`` to ``directory/<name>`` (PNG unless ``name`` has a suffix); return the path.

    ``directory`` defaults to ``config.figures_output_dir()``: ``figures/`` in full mode, a cache
    folder in fast mode. The write is atomic (temporary file, then rename) so an interrupted
    notebook never leaves a truncated figure behind.
    """
    out = Path(directory if directory is not None else config.figures_output_dir()) / name
    if not out.suffix:
        out = out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=out.suffix.lstrip("."))
    tmp.replace(out)
    return out

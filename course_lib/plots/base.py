"""Shared figure plumbing: one style, one place where figures are written."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from course_lib import config


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

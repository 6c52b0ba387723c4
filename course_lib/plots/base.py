"""Shared figure plumbing: one style, one place where figures are written."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from course_lib import config


def save_figure(fig: matplotlib.figure.Figure, name: str, *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``figures/<name>`` (PNG unless ``name`` has a suffix) and return the path.

    The write is atomic (temporary file, then rename) so an interrupted notebook never leaves a
    truncated figure behind.
    """
    out = config.FIGURES_DIR / name
    if not out.suffix:
        out = out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=out.suffix.lstrip("."))
    tmp.replace(out)
    return out

"""``loss.csv``: one row per validation step (step, train and validation loss, learning rate,
samples/s, elapsed seconds), written atomically and read back."""

from __future__ import annotations

import csv
from pathlib import Path


def write_csv(history: list[dict[str, float]], path: Path) -> None:
    if not history:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(path)


def read_loss_csv(path: str | Path) -> dict[str, list[float]]:
    """Columns of a ``loss.csv`` as float lists (for the loss-curve figures)."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return {key: [float(r[key]) for r in rows] for key in (rows[0] if rows else {})}

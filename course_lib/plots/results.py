"""Figures of the results: Table 1 as grouped bars, loss curves like the paper's Figures 2-5."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from course_lib import sdes
from course_lib.plots.base import new_figure
from course_lib.solvers import solver_names


def table_bars_figure(
    results: dict[str, dict[str, dict[str, Any]]],
    paper: dict[str, dict[str, float]],
    correction_of: dict[str, str] | None = None,
) -> plt.Figure:
    """Mean score per (SDE, solver) as bars, the paper's value of the same cell as a black tick."""
    inverse = {v: k for k, v in (correction_of or {}).items()}
    labels, ours, theirs, colors = [], [], [], []
    for sde, cells in results.items():
        for solver in solver_names():
            if solver not in cells:
                continue
            labels.append(f"{sdes.label(sde)}\n{solver}")
            ours.append(cells[solver]["mean_score"])
            theirs.append(paper.get(inverse.get(sde, sde), {}).get(solver, np.nan))
            colors.append(sdes.color(sde))
    fig, ax = new_figure(figsize=(max(6, 0.75 * len(labels)), 3.6))
    x = np.arange(len(labels))
    ax.bar(x, ours, color=colors, alpha=0.85, label="this course")
    ax.scatter(
        x,
        theirs,
        marker="_",
        s=600,
        color="black",
        linewidths=2.5,
        label="paper, Table 1",
        zorder=3,
    )
    ax.axhline(0.95, color="grey", lw=0.8, ls=":")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("mean score (max coverage reward)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("PushT, 50 test seeds")
    fig.tight_layout()
    return fig


def _smooth(values: np.ndarray, weight: float = 0.6) -> np.ndarray:
    out, last = np.empty_like(values), values[0]
    for i, v in enumerate(values):
        last = weight * last + (1 - weight) * v
        out[i] = last
    return out


def loss_curves_figure(histories: dict[str, dict[str, list[float]]]) -> plt.Figure:
    """Smoothed training and validation loss per SDE on a log scale (paper Figures 2-5)."""
    fig, ax = new_figure(figsize=(6, 3.6))
    for sde, h in histories.items():
        steps = np.asarray(h["step"])
        color, label = sdes.color(sde, None), sdes.label(sde)
        ax.plot(steps, _smooth(np.asarray(h["train_loss"])), color=color, label=f"{label} train")
        val = np.asarray(h["val_loss"])
        if np.isfinite(val).any():
            ax.plot(steps, _smooth(val), color=color, ls="--", label=f"{label} validation")
    ax.set_yscale("log")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("loss (each SDE's own objective)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def time_to_score_figure(
    results: list[dict[str, Any]],
    calibration: dict[str, dict[float, tuple[float, float | None]]] | None = None,
) -> plt.Figure:
    """Mean score against training minutes per (SDE, decoder), with the bootstrap 95 % interval as
    error bars; the calibration's U-Net curves in grey (``results`` rows of time_to_score)."""
    fig, ax = new_figure(figsize=(6.4, 3.8))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["sde"], r["decoder"]), []).append(r)
    markers = ("o", "s", "^", "D")
    decoders = sorted({d for _, d in groups})
    for (sde, decoder), rows in groups.items():
        rows = sorted(rows, key=lambda r: r["minutes"])
        x = np.array([r["minutes"] for r in rows])
        y = np.array([r["mean_score"] for r in rows])
        ci = np.array([r["score_ci"] for r in rows]).T
        ax.errorbar(
            x,
            y,
            yerr=[y - ci[0], ci[1] - y],
            color=sdes.color(sde, None),
            marker=markers[decoders.index(decoder) % len(markers)],
            capsize=3,
            label=f"{sde} / {decoder}",
        )
    for i, (name, figures) in enumerate((calibration or {}).items()):
        minutes = sorted(figures)
        ax.plot(
            minutes,
            [figures[m][0] for m in minutes],
            color="grey",
            ls=(":", "--")[i % 2],
            label=f"calibration: {name}",
        )
    ax.axhline(0.95, color="black", lw=0.6, ls=":")
    ax.set_xlabel("training budget (minutes, 2 CPU threads)")
    ax.set_ylabel("mean score, 50 test seeds")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig

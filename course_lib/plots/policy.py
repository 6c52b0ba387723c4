"""Figures of the policy notebooks 07-09, each a pure function of data computed beside it.

* 07 training: the expected loss of the paper's objectives at reference networks against a
  network's measured loss (:func:`course_lib.analysis.chunks.loss_levels`, ``loss_by_time``), and
  live loss curves.
* 08 sampling: reverse-time paths of action chunks in world pixels
  (:func:`course_lib.analysis.chunks.sample_chunk_trajectories`) drawn over the PushT scene, and the
  spread and latency of the sampled chunks per solver and step count (``spread_and_latency``).
* 09 results: closed-loop episodes recorded by ``evaluate(..., record=True)`` animated side by side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from course_lib import sdes
from course_lib.plots.base import new_figure
from course_lib.plots.pusht import draw_scene
from course_lib.pusht import WORLD_SIZE, render_scene
from course_lib.solvers import SOLVER_TABLE

#: Colour map of diffusion time in the chunk figures (reversed viridis: dark = noise at t = T,
#: bright = data at t = t_eps).
TIME_CMAP = "viridis_r"


# ---------------------------------------------------------------------------------------------
# 07: the scale of the training losses
# ---------------------------------------------------------------------------------------------


def loss_levels_figure(
    levels: Mapping[str, tuple[np.ndarray, dict[str, np.ndarray]]],
    measured: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Figure:
    """One panel per SDE: the reference levels of :func:`loss_levels` against time
    (``levels[sde] = (times, levels)``), with a network's measured loss as dots
    (``measured[sde] = (times, values)``, e.g. from :func:`loss_by_time`)."""
    fig, axes = new_figure(1, len(levels), figsize=(4.2 * len(levels), 3.5), squeeze=False)
    styles = {
        "unit": ("unit-size output (untrained)", "0.55", ":"),
        "zero": ("zero output", "black", "--"),
        "perfect": ("exact network, Gaussian bound", "tab:blue", "-"),
    }
    for ax, (name, (times, values)) in zip(axes[0], levels.items(), strict=True):
        for key, (label, color, ls) in styles.items():
            ax.plot(times, values[key], color=color, ls=ls, label=label)
        if measured is not None and name in measured:
            ax.plot(*measured[name], "o", ms=4, color=sdes.color(name, None), label="network")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("diffusion time t (log scale)")
        ax.set_title(f"{sdes.label(name)}: loss per element at time t", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("expected loss")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def live_loss_figure(
    step_losses: Mapping[str, Sequence[float]],
    histories: Mapping[str, Sequence[Mapping[str, float]]] | None = None,
) -> Figure:
    """Per-step training loss of live runs (thin), with the recorded validation loss (dots)."""
    fig, ax = new_figure(figsize=(6.5, 3.6))
    for sde, losses in step_losses.items():
        color, label = sdes.color(sde, None), sdes.label(sde)
        steps = np.arange(1, len(losses) + 1)
        ax.plot(steps, losses, color=color, lw=0.8, alpha=0.8, label=f"{label} train (per step)")
        rows = (histories or {}).get(sde, [])
        val = [(r["step"], r["val_loss"]) for r in rows if np.isfinite(r["val_loss"])]
        if val:
            ax.plot(*zip(*val, strict=True), "o", ms=4, color=color, label=f"{label} validation")
    ax.set_yscale("log")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("loss (each SDE's own objective)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# 08: reverse-time paths of action chunks
# ---------------------------------------------------------------------------------------------


def _outside(points: np.ndarray) -> float:
    """Fraction of points (..., 2) outside the world square."""
    return float(np.mean(np.any((points < 0) | (points > WORLD_SIZE), axis=-1)))


def reverse_chunks_figure(
    traj: Any,
    state: np.ndarray,
    index: int | None = None,
    demo_chunk: np.ndarray | None = None,
    n_levels: int = 5,
) -> Figure:
    """The sampled chunks of ``traj`` (a :class:`course_lib.analysis.chunks.ChunkTrajectories`)
    over the scene at path index ``index`` (bold) and at up to ``n_levels``
    earlier indices (faint, spaced more densely towards ``index``), coloured by diffusion time;
    beside it the spread of the samples against the path index."""
    last = len(traj.times) - 1
    index = last if index is None else int(index)
    if not 0 <= index <= last:
        raise ValueError(f"index must be in [0, {last}] for a path of {traj.steps} steps")
    cmap = plt.get_cmap(TIME_CMAP)
    norm = Normalize(vmin=float(traj.times.min()), vmax=float(traj.times.max()))
    fig, (ax, ax_spread) = new_figure(
        1, 2, figsize=(10.5, 4.8), gridspec_kw={"width_ratios": [1.15, 1]}
    )
    draw_scene(ax, state)
    spacing = 1.0 - (1.0 - np.linspace(0.0, 1.0, n_levels + 1)) ** 2  # denser near ``index``
    earlier = np.unique((spacing * index).round().astype(int))
    earlier = earlier[earlier < index]
    for k in earlier:
        color = cmap(norm(traj.times[k]))
        for chunk in traj.positions[k]:
            ax.plot(chunk[:, 0], chunk[:, 1], "-", color=color, lw=0.7, alpha=0.3)
    color = cmap(norm(traj.times[index]))
    for chunk in traj.positions[index]:
        ax.plot(chunk[:, 0], chunk[:, 1], "-o", color=color, lw=1.6, ms=2.5, mec="black", mew=0.3)
        ax.plot(*chunk[0], "o", ms=5, color=color, mec="black", mew=0.8)
    if demo_chunk is not None:
        demo = np.asarray(demo_chunk, dtype=np.float64)
        ax.plot(demo[:, 0], demo[:, 1], "--", color="black", lw=1.4, label="demonstration")
        ax.legend(loc="lower left", fontsize=7)
    denoised = traj.final_denoised and index == last
    when = "denoised" if denoised else f"t = {traj.times[index]:.3g}"
    ax.set_title(
        f"{sdes.label(traj.sde)} {traj.solver}-{traj.steps}: index {index}/{last} ({when}), "
        f"{_outside(traj.positions[index]):.0%} outside",
        fontsize=9,
    )
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
    fig.colorbar(sm, ax=ax, fraction=0.046, pad=0.02, label="diffusion time t")

    spread = traj.spread()
    ax_spread.semilogy(np.arange(last + 1), np.maximum(spread, 1e-3), "-", color="0.3")
    ax_spread.plot(index, max(spread[index], 1e-3), "o", color=color, mec="black", ms=8)
    ax_spread.set_xlabel("path index (0 = prior sample, last = action chunk)")
    ax_spread.set_ylabel("spread across samples (px, RMS)")
    ax_spread.set_title(
        f"final spread {spread[-1]:.1f} px over {traj.positions.shape[1]} samples", fontsize=9
    )
    ax_spread.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def spread_latency_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Spread of the sampled chunks and latency per chunk against the step count, one line per
    (SDE, solver): colour by SDE, marker and dash by solver; rows come from
    :func:`spread_and_latency`."""
    fig, (ax_s, ax_l) = new_figure(1, 2, figsize=(11, 4))
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["sde"], row["solver"]), []).append(row)
    for (sde, solver), group in groups.items():
        group = sorted(group, key=lambda r: r["steps"])
        steps = [r["steps"] for r in group]
        known = SOLVER_TABLE.get(solver)
        marker, ls = (known.marker, known.linestyle) if known else ("o", "-")
        style = {"color": sdes.color(sde, None), "marker": marker, "ls": ls, "ms": 5}
        label = f"{sdes.label(sde)} {solver}"
        ax_s.plot(steps, [r["spread_px"] for r in group], label=label, **style)
        ax_l.plot(steps, [r["latency_ms"] for r in group], **style)
    ticks = sorted({r["steps"] for r in rows})
    for ax, label in ((ax_s, "spread of sampled chunks (px)"), (ax_l, "latency per chunk (ms)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.minorticks_off()
        ax.set_xlabel("steps N")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    ax_s.axhline(WORLD_SIZE, color="0.6", lw=0.8, ls=":")
    fig.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# 09: closed-loop rollouts
# ---------------------------------------------------------------------------------------------


def rollout_animation(
    rollouts: Sequence[Any],
    every: int = 2,
    size: int = 256,
    panel_inches: float = 2.6,
    dpi: int = 80,
) -> FuncAnimation:
    """Episodes side by side: the scene, the chunk being executed (orange, executed part dim) and
    the score so far. Finished episodes hold their last frame. Frame i shows step i * every.
    ``rollouts`` are :class:`course_lib.evaluate.Rollout` records (``evaluate(..., record=True)``)."""
    if not rollouts:
        raise ValueError("give at least one rollout")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    n_steps = max(len(r.targets) for r in rollouts)
    frames = list(range(0, n_steps + 1, every))
    if frames[-1] != n_steps:
        frames.append(n_steps)
    fig, axes = new_figure(
        1,
        len(rollouts),
        figsize=(panel_inches * len(rollouts), panel_inches + 0.4),
        dpi=dpi,
        squeeze=False,
    )
    artists = []
    for ax, r in zip(axes[0], rollouts, strict=True):
        image = ax.imshow(render_scene(r.states[0], size), extent=(0, WORLD_SIZE, WORLD_SIZE, 0))
        (done_line,) = ax.plot([], [], "-", color="darkorange", lw=1, alpha=0.4)
        (todo_line,) = ax.plot([], [], "-o", color="darkorange", lw=1.5, ms=2)
        ax.set_xticks([])
        ax.set_yticks([])
        artists.append((ax, image, done_line, todo_line))

    def draw(step: int):
        changed = []
        for r, (ax, image, done_line, todo_line) in zip(rollouts, artists, strict=True):
            t = min(step, len(r.targets))
            image.set_data(render_scene(r.states[t], size))
            if r.plans:
                start, chunk = r.plan_at(min(t, max(len(r.targets) - 1, 0)))
                k = t - start
                done_line.set_data(chunk[: k + 1, 0], chunk[: k + 1, 1])
                todo_line.set_data(chunk[k:, 0], chunk[k:, 1])
            score = float(r.rewards[:t].max()) if t else 0.0
            ended = " (ended)" if t == len(r.targets) and t < n_steps else ""
            ax.set_title(f"{r.name}  step {t}{ended}\nscore {score:.2f}", fontsize=8)
            changed += [image, done_line, todo_line]
        return changed

    draw(0)
    fig.tight_layout()
    return FuncAnimation(fig, draw, frames=frames, interval=100 * every, blit=False)


#: Text glyphs for the player's Font Awesome icons, so the controls need no stylesheet from a CDN.
PLAYER_GLYPHS = {
    "fa fa-minus": "&minus;",
    "fa fa-fast-backward": "&#x23EE;",
    "fa fa-step-backward": "&#x23F4;&#x7C;",
    "fa fa-play fa-flip-horizontal": "&#x25C0;",
    "fa fa-pause": "&#x23F8;",
    "fa fa-play": "&#x25B6;",
    "fa fa-step-forward": "&#x7C;&#x23F5;",
    "fa fa-fast-forward": "&#x23ED;",
    "fa fa-plus": "+",
}


def offline_player(html: str) -> str:
    """``to_jshtml`` output without external assets: the Font Awesome ``<link>`` is dropped and
    each icon becomes a Unicode glyph. Raises if an external URL or an unknown icon remains."""
    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html)
    for icon, glyph in PLAYER_GLYPHS.items():
        html = html.replace(f'<i class="{icon}"></i>', glyph)
    leftover = re.findall(r'<i class="fa [^"]*"|(?:src|href)="(?:https?:)?//[^"]*"', html)
    if leftover:
        raise ValueError(f"the player still needs external assets: {leftover}")
    return html


def animation_html(anim: FuncAnimation, frame_format: str = "jpeg") -> str:
    """The animation as self-contained HTML with JavaScript controls (``to_jshtml``, frames
    embedded, no CDN: works offline); JPEG frames keep notebooks small. The animation's figure is
    closed so it is not shown twice."""
    with matplotlib.rc_context({"animation.frame_format": frame_format}):
        html = anim.to_jshtml()
    plt.close(anim._fig)
    return offline_player(html)

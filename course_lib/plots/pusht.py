"""Figures of notebook 06 (the PushT environment), each a pure function returning a Figure.

Scenes are drawn with matplotlib patches in world pixels with the y axis pointing down, as in the
images; the colours are the renderer's (``course_lib.pusht.constants``).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.patches import Polygon as PolygonPatch

from course_lib.plots.base import new_figure
from course_lib.pusht import constants as C
from course_lib.pusht.geometry import block_polygons, coverage, coverage_batch, keypoints, to_world
from course_lib.pusht.physics import PushTWorld
from course_lib.pusht.symmetry import MIRROR_SUM, mirror_states


def _rgb(color: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(c / 255 for c in color)


def _draw_t(ax: Axes, pose: np.ndarray, **style) -> None:
    for box in block_polygons(np.asarray(pose, dtype=np.float64)):
        ax.add_patch(PolygonPatch(box, closed=True, **style))


def _world_axes(ax: Axes, title: str | None = None) -> None:
    ax.set_xlim(0, C.WORLD_SIZE)
    ax.set_ylim(C.WORLD_SIZE, 0)  # y down, as in the images
    ax.set_aspect("equal")
    ax.set_xticks([0, 128, 256, 384, 512])
    ax.set_yticks([0, 128, 256, 384, 512])
    if title:
        ax.set_title(title, fontsize=10)


def draw_scene(
    ax: Axes,
    state: np.ndarray,
    action: np.ndarray | None = None,
    show_keypoints: bool = False,
    show_frame: bool = False,
    title: str | None = None,
) -> Axes:
    """Goal, block and agent of ``state`` (5,) on ``ax``; optionally target, keypoints, frame."""
    state = np.asarray(state, dtype=np.float64)
    for a, b in C.WALL_SEGMENTS:
        ax.plot([a[0], b[0]], [a[1], b[1]], color=_rgb(C.WALL_COLOR), lw=2)
    _draw_t(ax, C.GOAL_POSE, facecolor=_rgb(C.GOAL_COLOR), edgecolor="none")
    _draw_t(ax, state[2:5], facecolor=_rgb(C.BLOCK_COLOR), edgecolor="none", alpha=0.9)
    ax.add_patch(Circle(state[:2], C.AGENT_RADIUS, color=_rgb(C.AGENT_COLOR)))
    if action is not None:
        ax.plot(*np.asarray(action, dtype=np.float64), marker="+", ms=12, mew=2, color="red")
    if show_keypoints:
        kp = keypoints(state)
        ax.scatter(kp[:, 0], kp[:, 1], s=14, color="black", zorder=3)
        for i, (x, y) in enumerate(kp):
            ax.annotate(str(i), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
    if show_frame:
        origin = state[2:4]
        cog = to_world(state[2:5], np.array([C.BLOCK_CENTER_OF_GRAVITY]))[0]
        axes_tips = to_world(state[2:5], np.array([[40.0, 0.0], [0.0, 40.0]]))
        for tip, color in zip(axes_tips, ("tab:red", "tab:green"), strict=True):
            ax.annotate("", tip, origin, arrowprops={"arrowstyle": "->", "color": color, "lw": 1.5})
        ax.plot(*origin, "o", color="black", ms=4)
        ax.plot(*cog, "x", color="darkorange", ms=8, mew=2)
    _world_axes(ax, title)
    return ax


def scene_figure(state: np.ndarray, action: np.ndarray | None = None) -> Figure:
    """The scene beside the same scene annotated: block frame, centre of gravity, 9 keypoints."""
    fig, axes = new_figure(1, 2, figsize=(9, 4.6))
    draw_scene(axes[0], state, action, title="scene (the red cross is the target)")
    draw_scene(
        axes[1],
        state,
        show_keypoints=True,
        show_frame=True,
        title="block frame (x red, y green), centre of gravity (orange), keypoints",
    )
    fig.tight_layout()
    return fig


def single_scene_figure(
    state: np.ndarray, action: np.ndarray | None = None, title: str | None = None
) -> Figure:
    """One scene panel (used by the pushing game)."""
    fig, ax = new_figure(figsize=(4.6, 4.6))
    draw_scene(ax, state, action, title=title)
    fig.tight_layout()
    return fig


def pd_response_figure(target: tuple[float, float] = (356.0, 256.0), n_steps: int = 12) -> Figure:
    """The agent's answer to a target jump, simulated, against the critically damped closed form.

    With K_P = omega^2 = 100 and K_V = 2 omega = 20, the distance left to the target decays as
    e(t) = e(0) (1 + omega t) exp(-omega t): no overshoot, 95 % of the way after about 0.47 s.
    """
    world = PushTWorld()
    world.set_state([256.0, 256.0, 400.0, 100.0, 0.0], legacy=False)
    xs = [world.state[0]]
    for _ in range(n_steps):
        world.step(target)
        xs.append(world.state[0])
    times = np.arange(n_steps + 1) / C.CONTROL_HZ
    omega = math.sqrt(C.K_P)
    fine = np.linspace(0, times[-1], 300)
    gap0 = target[0] - xs[0]
    closed = target[0] - gap0 * (1 + omega * fine) * np.exp(-omega * fine)
    fig, ax = new_figure(figsize=(6.5, 3.6))
    ax.plot(fine, closed, color="0.4", label=r"closed form $x^* - e_0(1+\omega t)e^{-\omega t}$")
    ax.plot(times, xs, "o", color=_rgb(C.AGENT_COLOR), label="simulated, one dot per action")
    ax.axhline(target[0], color="red", ls="--", lw=1, label="target")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("agent x (px)")
    ax.set_title(f"PD control, K_P={C.K_P:g}, K_V={C.K_V:g}: critically damped", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _fill_shape(ax: Axes, geom, **style) -> None:
    for poly in getattr(geom, "geoms", [geom]):
        if not poly.is_empty and poly.geom_type == "Polygon":
            ax.add_patch(PolygonPatch(np.asarray(poly.exterior.coords), closed=True, **style))


def _t_shape(pose: np.ndarray) -> shapely.Polygon:
    """The T as one polygon for drawing (a 1e-6 px mitred buffer welds the boxes' shared edge,
    which rounding can leave as two touching parts)."""
    boxes = shapely.union_all(shapely.polygons(block_polygons(pose)))
    return boxes.buffer(1e-6, join_style="mitre")


def draw_coverage(ax: Axes, state: np.ndarray) -> float:
    """Goal T, block T and their intersection (hatched), around the goal; returns the coverage."""
    state = np.asarray(state, dtype=np.float64)
    goal, block = _t_shape(np.asarray(C.GOAL_POSE)), _t_shape(state[2:5])
    _fill_shape(ax, goal, facecolor=_rgb(C.GOAL_COLOR), edgecolor="green", lw=1)
    _fill_shape(ax, block, facecolor="none", edgecolor=_rgb(C.BLOCK_COLOR), lw=2)
    _fill_shape(
        ax, goal.intersection(block), facecolor="none", edgecolor="black", hatch="///", lw=0
    )
    cov = coverage(state)
    ax.set_xlim(136, 376)
    ax.set_ylim(376, 136)
    ax.set_aspect("equal")
    return cov


def coverage_figure(states: np.ndarray, titles: list[str] | None = None) -> Figure:
    """One panel per state (k, 5): the goal, the block and their intersection (hatched)."""
    states = np.atleast_2d(np.asarray(states, dtype=np.float64))
    fig, axes = new_figure(1, len(states), figsize=(3.6 * len(states), 3.8), squeeze=False)
    for i, (ax, state) in enumerate(zip(axes[0], states, strict=True)):
        cov = draw_coverage(ax, state)
        label = f"coverage {cov:.3f}, reward {min(cov / C.SUCCESS_COVERAGE, 1.0):.3f}"
        ax.set_title(f"{titles[i]}\n{label}" if titles else label, fontsize=10)
    fig.tight_layout()
    return fig


def replay_figure(
    states: np.ndarray, actions: np.ndarray, frame: int, title: str = "", lookahead: int = 16
) -> Figure:
    """One demonstration at ``frame``: the scene with the agent's past path and the next targets,
    beside the coverage over the episode."""
    states = np.asarray(states, dtype=np.float64)
    actions = np.asarray(actions, dtype=np.float64)
    frame = int(np.clip(frame, 0, len(states) - 1))
    fig, (left, right) = new_figure(1, 2, figsize=(10, 4.4), gridspec_kw={"width_ratios": [1, 1.3]})
    draw_scene(
        left, states[frame], actions[frame], title=f"{title} frame {frame}/{len(states) - 1}"
    )
    left.plot(states[: frame + 1, 0], states[: frame + 1, 1], color="tab:blue", lw=1, alpha=0.6)
    ahead = actions[frame : frame + lookahead]
    left.plot(ahead[:, 0], ahead[:, 1], ".-", color="red", ms=3, lw=0.8, alpha=0.7)
    cov = coverage_batch(states)
    right.plot(np.arange(len(cov)), cov, color="tab:green")
    right.axhline(C.SUCCESS_COVERAGE, color="0.5", ls="--", lw=1, label="success threshold 0.95")
    right.axvline(frame, color="black", lw=1)
    right.set_xlabel("frame (10 per second)")
    right.set_ylabel("coverage")
    right.set_ylim(0, 1.02)
    right.legend(fontsize=8, loc="upper left")
    right.set_title(f"coverage now {cov[frame]:.3f}, best {cov.max():.3f}", fontsize=10)
    fig.tight_layout()
    return fig


def mirror_figure(states: np.ndarray, title: str = "demonstration") -> Figure:
    """A demonstration's first frame and paths (agent blue, block origin orange) beside its mirror
    image across the goal T's axis x + y = 512 (dashed), with the final coverage of each."""
    states = np.asarray(states, dtype=np.float64)
    fig, axes = new_figure(1, 2, figsize=(9, 4.6))
    for ax, shown, name in zip(
        axes, (states, mirror_states(states)), (title, "its mirror image"), strict=True
    ):
        draw_scene(ax, shown[0], title=f"{name}: final coverage {coverage(shown[-1]):.3f}")
        ax.plot(shown[:, 0], shown[:, 1], color="tab:blue", lw=1, alpha=0.7)
        ax.plot(shown[:, 2], shown[:, 3], color="tab:orange", lw=1.5, alpha=0.8)
        ax.plot([0, MIRROR_SUM], [MIRROR_SUM, 0], color="0.4", ls="--", lw=1)  # the mirror line
    fig.tight_layout()
    return fig


def demo_statistics_figure(stats: dict[str, np.ndarray]) -> Figure:
    """Histograms of the demonstrations' final coverage, best reward and length
    (``course_lib.data.episode_statistics``)."""
    fig, axes = new_figure(1, 3, figsize=(12, 3.6))
    final = stats["final_coverage"]
    axes[0].hist(final, bins=25, color="tab:green", alpha=0.8)
    axes[0].axvline(C.SUCCESS_COVERAGE, color="black", ls="--", lw=1)
    axes[0].set_xlabel("coverage after the last action")
    axes[0].set_title(
        f"median {np.median(final):.3f}; {int(np.sum(final > C.SUCCESS_COVERAGE))} of {len(final)}"
        " above 0.95",
        fontsize=10,
    )
    axes[1].hist(stats["max_reward"], bins=25, color="tab:olive", alpha=0.8)
    axes[1].set_xlabel("best reward of the episode, min(cov / 0.95, 1)")
    axes[1].set_title(f"mean {stats['max_reward'].mean():.3f}", fontsize=10)
    lengths = stats["length"]
    axes[2].hist(lengths, bins=25, color="tab:blue", alpha=0.8)
    axes[2].axvline(C.MAX_STEPS, color="red", ls="--", lw=1, label="evaluation limit 300")
    axes[2].set_xlabel("episode length (frames)")
    axes[2].set_title(
        f"{int(lengths.sum())} frames, median length {int(np.median(lengths))}", fontsize=10
    )
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.set_ylabel("episodes")
    fig.tight_layout()
    return fig


def observations_figure(state: np.ndarray, pixels: np.ndarray, crop: np.ndarray) -> Figure:
    """What a policy sees: keypoints and agent, the 96 px frame, and an 84 px crop of it."""
    fig, axes = new_figure(1, 3, figsize=(11, 3.8))
    kp = keypoints(np.asarray(state, dtype=np.float64))
    axes[0].scatter(kp[:, 0], kp[:, 1], color=_rgb(C.BLOCK_COLOR))
    axes[0].scatter(*state[:2], color=_rgb(C.AGENT_COLOR), s=60)
    _world_axes(axes[0], "keypoints: 9 points + agent = 20 numbers")
    axes[1].imshow(pixels)
    axes[1].set_title(f"pixels {pixels.shape[0]} x {pixels.shape[1]}", fontsize=10)
    axes[2].imshow(crop)
    axes[2].set_title(f"random crop {crop.shape[0]} x {crop.shape[1]}", fontsize=10)
    fig.tight_layout()
    return fig


def moment_quirk_figure(
    stored: np.ndarray, reference: np.ndarray, physical: np.ndarray, title: str = ""
) -> Figure:
    """Block path of a demonstration: stored, replayed with the reference's moment of inertia,
    and replayed with a physical one (same actions, same start)."""
    fig, (left, right) = new_figure(1, 2, figsize=(10, 4.2))
    draw_scene(left, stored[-1], title=title)
    for states, style, label in (
        (stored, dict(color="black", lw=3, alpha=0.4), "stored"),
        (reference, dict(color="tab:green", lw=1.2), f"moment {C.BLOCK_MOMENT:.0f} (reference)"),
        (
            physical,
            dict(color="tab:red", lw=1.2),
            f"moment {C.PHYSICAL_BLOCK_MOMENT:.0f} (uniform T)",
        ),
    ):
        left.plot(states[:, 2], states[:, 3], label=label, **style)
    left.legend(fontsize=8, loc="lower left")
    n = min(len(stored), len(reference), len(physical))
    for states, color, label in (
        (reference, "tab:green", "reference"),
        (physical, "tab:red", "uniform T"),
    ):
        gap = np.linalg.norm(states[:n, 2:4] - stored[:n, 2:4], axis=1)
        right.semilogy(np.arange(n), np.maximum(gap, 1e-7), color=color, label=label)
    right.set_xlabel("frame")
    right.set_ylabel("block position error vs stored (px)")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig

"""Headless drawing of the PushT scene with pygame, as a pure function of the state.

The scene follows the reference: white background, the goal T in light green, the block in slate
grey, the agent as a blue disc of radius 15, light grey walls. It is drawn on a plain pygame Surface
(no window; ``SDL_VIDEODRIVER=dummy`` is set if unset) at up to 4x the requested size, then
downsampled with ``smoothscale`` (area averaging), so small frames are anti-aliased.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402
import pygame  # noqa: E402

from course_lib.pusht import constants as C  # noqa: E402
from course_lib.pusht.geometry import block_polygons  # noqa: E402

#: Bumped whenever the drawing changes, so caches of rendered frames are invalidated.
RENDER_VERSION: int = 1
#: Supersampling factor for frames smaller than the world.
SUPERSAMPLE: int = 4
_GOAL_POLYGONS = block_polygons(np.asarray(C.GOAL_POSE))
_canvases: dict[int, pygame.Surface] = {}


def _canvas(side: int) -> pygame.Surface:
    """A reusable RGB Surface of ``side`` pixels (drawing fully repaints it)."""
    if side not in _canvases:
        _canvases[side] = pygame.Surface((side, side))
    return _canvases[side]


def _draw_marker(surface: pygame.Surface, centre: np.ndarray, scale: float) -> None:
    """A cross at ``centre`` (world pixels), as the reference marks the last action."""
    half, width = 12 * scale, max(1, round(3 * scale))
    x, y = centre * scale
    pygame.draw.line(surface, C.ACTION_COLOR, (x - half, y), (x + half, y), width)
    pygame.draw.line(surface, C.ACTION_COLOR, (x, y - half), (x, y + half), width)


def render_scene(
    state: np.ndarray, size: int = C.RENDER_SIZE, action: np.ndarray | None = None
) -> np.ndarray:
    """RGB image (size, size, 3) uint8 of the scene for a state (5,); ``action`` marks a target.

    Image row i, column j shows world point (x, y) = ((j + 0.5), (i + 0.5)) * 512 / size.
    """
    state = np.asarray(state, dtype=np.float64)
    if state.shape != (C.STATE_DIM,):
        raise ValueError(f"render_scene takes one state of shape (5,), got {state.shape}")
    if not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    side = int(min(C.WORLD_SIZE, size * SUPERSAMPLE)) if size < C.WORLD_SIZE else int(size)
    scale = side / C.WORLD_SIZE
    surface = _canvas(side)
    surface.fill(C.BACKGROUND_COLOR)
    for box in _GOAL_POLYGONS:
        pygame.draw.polygon(surface, C.GOAL_COLOR, (box * scale).tolist())
    for a, b in C.WALL_SEGMENTS:
        width = max(1, round(2 * C.WALL_RADIUS * scale))
        pygame.draw.line(surface, C.WALL_COLOR, np.multiply(a, scale), np.multiply(b, scale), width)
    for box in block_polygons(state[2:5]):
        pygame.draw.polygon(surface, C.BLOCK_COLOR, (box * scale).tolist())
    pygame.draw.circle(surface, C.AGENT_COLOR, (state[:2] * scale).tolist(), C.AGENT_RADIUS * scale)
    if action is not None:
        _draw_marker(surface, np.asarray(action, dtype=np.float64).reshape(2), scale)
    if side != size:
        surface = pygame.transform.smoothscale(surface, (size, size))
    pixels = np.frombuffer(pygame.image.tobytes(surface, "RGB"), dtype=np.uint8)
    return pixels.reshape(size, size, 3).copy()

"""Every physics, geometry and protocol constant of PushT, in one place (see shared/PUSHT.md).

Coordinates are pixels of the 512 x 512 world with y pointing down, as in the images. The values
reproduce the public PushT benchmark of Diffusion Policy (Chi et al.), quirks included, because the
demonstrations were recorded with exactly these dynamics.
"""

from __future__ import annotations

import math

import numpy as np

# --- world -------------------------------------------------------------------------------------
#: Side of the square world, in pixels.
WORLD_SIZE: int = 512
#: Four static wall segments (start, end) of the arena.
WALL_SEGMENTS: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = (
    ((5.0, 506.0), (5.0, 5.0)),
    ((5.0, 5.0), (506.0, 5.0)),
    ((506.0, 5.0), (506.0, 506.0)),
    ((5.0, 506.0), (506.0, 506.0)),
)
WALL_RADIUS: float = 2.0
#: Linear damping of the space: 0 means bodies keep none of their velocity between steps.
SPACE_DAMPING: float = 0.0

# --- control and integration -------------------------------------------------------------------
SIM_HZ: int = 100
CONTROL_HZ: int = 10
#: Physics sub-step, dt = 1 / SIM_HZ.
DT: float = 1.0 / SIM_HZ
#: Physics sub-steps per action (10 of dt = 0.01).
N_SUBSTEPS: int = SIM_HZ // CONTROL_HZ
#: PD gains of the agent: acc = K_P (target - p) + K_V (0 - v).
K_P: float = 100.0
K_V: float = 20.0

# --- agent -------------------------------------------------------------------------------------
AGENT_RADIUS: float = 15.0
AGENT_START: tuple[float, float] = (256.0, 400.0)

# --- T block -----------------------------------------------------------------------------------
BLOCK_MASS: float = 1.0
BLOCK_SCALE: float = 30.0
BLOCK_LENGTH: float = 4.0
_half_bar = BLOCK_LENGTH * BLOCK_SCALE / 2
#: The bar of the T in the block frame: x in [-60, 60], y in [0, 30] (pymunk vertex order).
BAR_VERTICES: tuple[tuple[float, float], ...] = (
    (-_half_bar, BLOCK_SCALE),
    (_half_bar, BLOCK_SCALE),
    (_half_bar, 0.0),
    (-_half_bar, 0.0),
)
#: The stem of the T: x in [-15, 15], y in [30, 120].
STEM_VERTICES: tuple[tuple[float, float], ...] = (
    (-BLOCK_SCALE / 2, BLOCK_SCALE),
    (-BLOCK_SCALE / 2, BLOCK_LENGTH * BLOCK_SCALE),
    (BLOCK_SCALE / 2, BLOCK_LENGTH * BLOCK_SCALE),
    (BLOCK_SCALE / 2, BLOCK_SCALE),
)
#: Both boxes as one array, shape (2, 4, 2): the block's polygons in its own frame.
BLOCK_BOXES: np.ndarray = np.array([BAR_VERTICES, STEM_VERTICES], dtype=np.float64)
BLOCK_BOXES.setflags(write=False)


def _rectangle_moment_about_origin(mass: float, vertices: tuple[tuple[float, float], ...]) -> float:
    """Moment of a uniform axis-aligned rectangle about the frame origin (parallel-axis theorem)."""
    xs = [v[0] for v in vertices]
    ys = [v[1] for v in vertices]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return mass * (width**2 + height**2) / 12 + mass * (cx**2 + cy**2)


#: Moment of inertia of the block: the reference adds the bar's moment TWICE (the stem's is never
#: used), each taken about the block origin: 2 * (1275 + 225) = 3000. Kept, the data depend on it.
BLOCK_MOMENT: float = 2 * _rectangle_moment_about_origin(BLOCK_MASS, BAR_VERTICES)
#: Centre of gravity: plain mean of the two boxes' centroids, (0, 15) and (0, 75) -> (0, 45).
BLOCK_CENTER_OF_GRAVITY: tuple[float, float] = (0.0, 45.0)


def _uniform_t_moment_about(point: tuple[float, float]) -> float:
    """Moment of a uniform T of mass BLOCK_MASS about ``point`` (block frame): each box gets the
    mass share of its area (3600 and 2700 of 6300 px^2), then the parallel-axis sum."""
    boxes = [np.array(BAR_VERTICES), np.array(STEM_VERTICES)]
    areas = [float(np.prod(box.max(axis=0) - box.min(axis=0))) for box in boxes]
    return sum(
        _rectangle_moment_about_origin(
            BLOCK_MASS * area / sum(areas), tuple(map(tuple, box - point))
        )
        for box, area in zip(boxes, areas, strict=True)
    )


#: What a uniform T of mass 1 would have about that centre of gravity (~1950): the reference's
#: block is about 1.5 times harder to turn than a physical one. Used only to show the quirk.
PHYSICAL_BLOCK_MOMENT: float = _uniform_t_moment_about(BLOCK_CENTER_OF_GRAVITY)

# --- goal and reward ---------------------------------------------------------------------------
#: Goal pose of the block (x, y, angle).
GOAL_POSE: np.ndarray = np.array([256.0, 256.0, math.pi / 4])
GOAL_POSE.setflags(write=False)
#: Area of the T, 120 * 30 + 30 * 90 = 6300 px^2.
GOAL_AREA: float = 6300.0
#: Success (and termination) when coverage exceeds this; reward = clip(coverage / 0.95, 0, 1).
SUCCESS_COVERAGE: float = 0.95

# --- keypoints ---------------------------------------------------------------------------------
#: The dataset's 9 keypoints in the block frame, in the dataset's order:
#: world = pos + R(angle) local (least-squares fit over the whole demonstration set;
#: residual mean 0.003 px, max 2.2 px).
KEYPOINTS_LOCAL: np.ndarray = np.array(
    [
        [9.2695, 90.0411],
        [-60.9833, -1.1870],
        [60.9129, -1.3930],
        [-0.2705, 25.5437],
        [-14.0653, 122.8158],
        [39.0027, 32.8576],
        [-39.9664, 32.7295],
        [-16.8245, 62.8632],
        [23.5416, -1.7001],
    ]
)
KEYPOINTS_LOCAL.setflags(write=False)
N_KEYPOINTS: int = len(KEYPOINTS_LOCAL)

# --- reset (Diffusion Policy's legacy reset) ---------------------------------------------------
#: randint bounds (inclusive low, exclusive high) for agent x, agent y, block x, block y.
RESET_AGENT_RANGE: tuple[int, int] = (50, 450)
RESET_BLOCK_RANGE: tuple[int, int] = (100, 400)

# --- evaluation protocol -----------------------------------------------------------------------
TEST_SEEDS: range = range(100000, 100050)
#: Longer evaluations continue the test seeds: n episodes use seeds 100000 .. 100000 + n - 1.
MAX_EVAL_EPISODES: int = 10_000


def evaluation_seeds(n: int) -> range:
    """The first ``n`` evaluation seeds (the 50 test seeds, then the ones after them)."""
    if isinstance(n, bool) or not 1 <= int(n) <= MAX_EVAL_EPISODES or int(n) != n:
        raise ValueError(f"episodes must be an integer in [1, {MAX_EVAL_EPISODES}], got {n!r}")
    return range(TEST_SEEDS.start, TEST_SEEDS.start + int(n))


MAX_STEPS: int = 300
N_OBS_STEPS: int = 2
N_ACTION_STEPS: int = 8

# --- observations and rendering ----------------------------------------------------------------
OBS_TYPES: tuple[str, ...] = ("state", "keypoints", "pixels", "pixels_agent_pos")
#: Length of the flat observation vectors.
STATE_DIM: int = 5
KEYPOINT_OBS_DIM: int = 2 * N_KEYPOINTS + 2
#: Bounds of positions in observation spaces. The agent is kinematic and can overshoot a target at
#: the border by up to v / (e * sqrt(K_P)) ~ 70 px (critically damped PD), so the box is padded.
POSITION_BOUNDS: tuple[float, float] = (-WORLD_SIZE / 4, 5 * WORLD_SIZE / 4)
RENDER_SIZE: int = 96
#: Size of the frame returned by ``PushTEnv.render()``.
DISPLAY_SIZE: int = 512
#: Colours (RGB) of the scene, pygame's named colours used by the reference renderer.
BACKGROUND_COLOR: tuple[int, int, int] = (255, 255, 255)
GOAL_COLOR: tuple[int, int, int] = (144, 238, 144)  # LightGreen
BLOCK_COLOR: tuple[int, int, int] = (119, 136, 153)  # LightSlateGray
AGENT_COLOR: tuple[int, int, int] = (65, 105, 225)  # RoyalBlue
WALL_COLOR: tuple[int, int, int] = (211, 211, 211)  # LightGray
ACTION_COLOR: tuple[int, int, int] = (255, 0, 0)


def validate_obs_type(obs_type: str) -> str:
    """Return ``obs_type`` if it is one of ``OBS_TYPES``, else raise a ValueError listing them."""
    if obs_type not in OBS_TYPES:
        raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
    return obs_type

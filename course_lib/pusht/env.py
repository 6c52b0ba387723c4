"""PushT as a gymnasium environment, registered as ``"course_lib/PushT-v0"`` (300 steps).

:class:`PushTEnv` documents the task in Gymnasium's sections (action and observation spaces,
rewards, starting state, episode end, arguments); the checks of actions and start states and the
observation spaces are the free functions below.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from course_lib.pusht import constants as C
from course_lib.pusht.geometry import coverage, reward_from_coverage
from course_lib.pusht.observations import Observation, observe
from course_lib.pusht.physics import PushTWorld
from course_lib.pusht.render import render_scene
from course_lib.pusht.reset import legacy_landing_state, legacy_reset_state

RENDER_MODES: tuple[str | None, ...] = ("rgb_array", None)


def _real_array(value: Any, what: str) -> np.ndarray:
    """``value`` as float64; ValueError for complex numbers, strings, bools or non-numbers
    (numpy would silently drop an imaginary part or parse "1" as 1.0)."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be real numbers, got {value!r}") from exc
    if raw.dtype.kind == "O":
        try:
            raw = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what} must be real numbers, got {value!r}") from exc
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{what} must be real numbers, got dtype {raw.dtype} ({value!r})")
    return raw.astype(np.float64)


def validate_action(action: Any) -> np.ndarray:
    """The action as float64 (2,) clipped to the world; ValueError if misshapen, non-finite,
    complex or not numeric."""
    arr = _real_array(action, "action (target x, y)")
    if arr.shape != (2,):
        raise ValueError(f"action must have shape (2,) (target x, y), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"action must be finite, got {arr}")
    return np.clip(arr, 0.0, float(C.WORLD_SIZE))


def validate_start_state(state: Any, legacy: bool = True) -> np.ndarray:
    """A raw ``reset_to_state`` (5,) as float64; ValueError unless real, finite and placing the
    agent and the block inside the world [0, 512]^2 (where the legacy setter lands the block)."""
    vec = _real_array(state, "reset_to_state")
    if vec.shape != (C.STATE_DIM,):
        raise ValueError(f"reset_to_state must have shape (5,), got shape {vec.shape}")
    if not np.all(np.isfinite(vec)):
        raise ValueError(f"reset_to_state must be finite, got {vec}")
    landed = legacy_landing_state(vec) if legacy else vec
    for name, xy in (("agent", landed[:2]), ("block", landed[2:4])):
        if np.any(xy < 0) or np.any(xy > C.WORLD_SIZE):
            raise ValueError(
                f"reset_to_state puts the {name} at {xy.round(1).tolist()}, outside the world "
                f"[0, {C.WORLD_SIZE}]^2"
            )
    return vec


def _position_box(n: int, dtype: type) -> spaces.Box:
    low, high = C.POSITION_BOUNDS
    return spaces.Box(low=low, high=high, shape=(n,), dtype=dtype)


def observation_space(obs_type: str, render_size: int = C.RENDER_SIZE) -> spaces.Space:
    """The gymnasium space of an observation kind (see ``observe``)."""
    C.validate_obs_type(obs_type)
    if obs_type == "state":
        low, high = C.POSITION_BOUNDS
        lows = np.array([low] * 4 + [0.0])
        highs = np.array([high] * 4 + [2 * math.pi])
        return spaces.Box(low=lows, high=highs, dtype=np.float64)
    if obs_type == "keypoints":
        return _position_box(C.KEYPOINT_OBS_DIM, np.float32)
    pixels = spaces.Box(0, 255, shape=(render_size, render_size, 3), dtype=np.uint8)
    if obs_type == "pixels":
        return pixels
    return spaces.Dict({"pixels": pixels, "agent_pos": _position_box(2, np.float32)})


class PushTEnv(gym.Env):
    """Push the T block onto the goal with a disc whose target position is the action.

    ## Description

    A 512 x 512 px world, walled in, holds a T-shaped block (a 120 x 30 px bar on a 30 x 90 px
    stem, mass 1) and a round agent (radius 15 px) in pymunk physics without gravity; the space's
    damping of 0 stops the block as soon as it is no longer pushed. The agent is kinematic (the
    block never pushes it back): every action is a target it is pulled to by the PD law
    acc = K_P (target - p) - K_V v (K_P = 100, K_V = 20), in 10 physics sub-steps of 0.01 s
    (control at 10 Hz). The task, Diffusion Policy's PushT (Chi et al. 2023; ../shared/PUSHT.md),
    is to push the block onto the fixed goal pose (256, 256, pi/4), drawn green.

    ## Action Space

    ``Box(0, 512, (2,), float64)``: the target (x, y) of the agent in world pixels. Targets outside
    the world are clipped to it (the reference did not clip; its action space is that box). NaN,
    inf, complex numbers, strings or a shape other than (2,) raise ``ValueError``.

    ## Observation Space

    Chosen by ``obs_type`` (positions lie in the padded box [-128, 640] px, where the agent can
    overshoot a target at the border):

    | obs_type | space | content |
    |---|---|---|
    | ``"state"`` | ``Box((5,), float64)`` | agent x, y, block x, y, block angle in [0, 2 pi) |
    | ``"keypoints"`` | ``Box((20,), float32)`` | the 9 block keypoints (x0, y0, ...), agent x, y |
    | ``"pixels"`` | ``Box(0, 255, (render_size, render_size, 3), uint8)`` | the rendered scene |
    | ``"pixels_agent_pos"`` | ``Dict(pixels, agent_pos (2,) float32)`` | both |

    ## Rewards

    ``clip(coverage / 0.95, 0, 1)`` after every step, where coverage is the fraction of the goal
    area (6300 px^2) the block covers. An episode's score is its largest reward.

    ## Starting State

    ``reset(seed=s)`` draws Diffusion Policy's start for seed s: agent x, y uniform integers in
    [50, 450), block x, y in [100, 400), block angle N(0, 1) * 2 pi - pi, set in the legacy order
    (block position, then angle, which turns the block about its centre of gravity). Without a
    seed the start seed is drawn from the environment's generator. ``reset(options={
    "reset_to_state": raw5})`` sets a raw state in that same order instead (``ValueError`` if it puts
    the agent or the block outside the world; ``reset.legacy_raw_state`` gives the raw state that
    lands on an observed one).

    ## Episode End

    Terminated when coverage exceeds 0.95 (``info["is_success"]``). Truncated after 300 steps by
    the ``TimeLimit`` of the registered id (``gymnasium.make("course_lib/PushT-v0")``); a
    ``PushTEnv`` built directly never truncates.

    ``info`` holds ``coverage``, ``is_success``, ``block_pose`` (x, y, angle), ``pos_agent``,
    ``vel_agent``, ``goal_pose`` and ``n_contacts`` (contact points per physics sub-step, rounded
    up, as the reference counts them).

    ## Arguments

    * ``obs_type``: one of ``"state"`` (default), ``"keypoints"``, ``"pixels"``,
      ``"pixels_agent_pos"``.
    * ``legacy_reset``: set start states in the order the demonstrations were recorded with
      (default True), so that seeds reproduce Diffusion Policy's starts.
    * ``render_size``: side of the ``"pixels"`` observations (default 96).
    * ``render_mode``: ``"rgb_array"`` (default; ``render()`` returns the 512 x 512 scene with the
      last action marked) or None.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": C.CONTROL_HZ}

    def __init__(
        self,
        obs_type: str = "state",
        legacy_reset: bool = True,
        render_size: int = C.RENDER_SIZE,
        render_mode: str | None = "rgb_array",
    ) -> None:
        self.obs_type = C.validate_obs_type(obs_type)
        if render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be one of {RENDER_MODES}, got {render_mode!r}")
        if not isinstance(render_size, int) or render_size < 1:
            raise ValueError(f"render_size must be a positive integer, got {render_size!r}")
        self.legacy_reset = legacy_reset
        self.render_size = render_size
        self.render_mode = render_mode
        self.observation_space = observation_space(obs_type, render_size)
        self.action_space = spaces.Box(0.0, float(C.WORLD_SIZE), shape=(2,), dtype=np.float64)
        self.world = PushTWorld()
        self.latest_action: np.ndarray | None = None
        self.n_contacts = 0

    @property
    def state(self) -> np.ndarray:
        """The raw state [agent_x, agent_y, block_x, block_y, block_angle mod 2 pi] (copy)."""
        return self.world.state

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode from ``options["reset_to_state"]`` or from the seeded random start.

        Without a seed, the start seed is drawn from the environment's generator, so a seeded
        reset followed by unseeded ones is a reproducible sequence.
        """
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"reset_to_state"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; valid: ['reset_to_state']")
        if "reset_to_state" in options:
            raw = validate_start_state(options["reset_to_state"], self.legacy_reset)
        else:
            start_seed = seed if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
            raw = legacy_reset_state(start_seed)
        self.world.set_state(raw, legacy=self.legacy_reset)
        self.latest_action = None
        self.n_contacts = 0
        state = self.world.state
        return observe(state, self.obs_type, self.render_size), self._info(state, coverage(state))

    def step(self, action: Any) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Hold the (clipped) target for 10 physics sub-steps; reward clip(coverage / 0.95, 0, 1)"""
        target = validate_action(action)
        self.latest_action = target
        self.n_contacts = self.world.step(target)
        state = self.world.state
        cov = coverage(state)
        obs = observe(state, self.obs_type, self.render_size)
        reward = float(reward_from_coverage(cov))
        return obs, reward, bool(cov > C.SUCCESS_COVERAGE), False, self._info(state, cov)

    def _info(self, state: np.ndarray, cov: float) -> dict[str, Any]:
        return {
            "coverage": cov,
            "is_success": bool(cov > C.SUCCESS_COVERAGE),
            "block_pose": state[2:5].copy(),
            "pos_agent": state[:2].copy(),
            "vel_agent": self.world.agent_velocity,
            "goal_pose": np.array(C.GOAL_POSE),
            "n_contacts": self.n_contacts,
        }

    def render(self) -> np.ndarray | None:
        """The scene at 512 x 512 with the last action marked by a red cross (None if no mode)."""
        if self.render_mode is None:
            return None
        return render_scene(self.world.state, C.DISPLAY_SIZE, action=self.latest_action)

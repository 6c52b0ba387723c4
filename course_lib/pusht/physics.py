"""The PushT world in pymunk: walls, a kinematic agent under PD control, and the T block.

One action holds the agent's target for ``N_SUBSTEPS`` physics sub-steps of ``DT``; at each one

    acc = K_P (target - p) + K_V (0 - v),   v <- v + acc * dt,   space.step(dt)

(PUSHT.md, "Step"). The agent is kinematic, so the block never pushes it back; the space has zero
damping, so the block stops the moment it is no longer pushed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pymunk

from course_lib.pusht import constants as C


def _as_state_vector(state: Sequence[float] | np.ndarray) -> np.ndarray:
    """Validate a raw state (agent_x, agent_y, block_x, block_y, block_angle) as float64 (5,)."""
    vec = np.asarray(state, dtype=np.float64)
    if vec.shape != (C.STATE_DIM,):
        raise ValueError(f"a PushT state has shape (5,), got {vec.shape}")
    if not np.all(np.isfinite(vec)):
        raise ValueError(f"a PushT state must be finite, got {vec}")
    return vec


class PushTWorld:
    """A fresh pymunk space holding the arena, the agent and the T block.

    ``set_state`` rebuilds the space, as the reference does on every reset, so that no velocity
    and no cached contact (pymunk warm-starts its solver from them) carries over between episodes.
    ``block_moment`` exists to show the moment-of-inertia quirk; keep the default to match the data.
    """

    def __init__(self, block_moment: float = C.BLOCK_MOMENT) -> None:
        if not block_moment > 0:
            raise ValueError(f"block_moment must be positive, got {block_moment}")
        self.block_moment = float(block_moment)
        self.n_contact_points = 0
        self._build()

    def _build(self) -> None:
        space = pymunk.Space()
        space.gravity = (0.0, 0.0)
        space.damping = C.SPACE_DAMPING
        walls = [pymunk.Segment(space.static_body, a, b, C.WALL_RADIUS) for a, b in C.WALL_SEGMENTS]
        space.add(*walls)

        agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        agent.position = C.AGENT_START
        space.add(agent, pymunk.Circle(agent, C.AGENT_RADIUS))

        block = pymunk.Body(C.BLOCK_MASS, self.block_moment)
        shapes = [pymunk.Poly(block, C.BAR_VERTICES), pymunk.Poly(block, C.STEM_VERTICES)]
        block.center_of_gravity = C.BLOCK_CENTER_OF_GRAVITY
        block.position = (C.WORLD_SIZE / 2, 300.0)
        block.angle = 0.0
        space.add(block, *shapes)

        space.on_collision(0, 0, post_solve=self._count_contacts)
        self.space, self.agent, self.block = space, agent, block

    def _count_contacts(self, arbiter: pymunk.Arbiter, space: pymunk.Space, data: object) -> None:
        self.n_contact_points += len(arbiter.contact_point_set.points)

    def set_state(self, state: Sequence[float] | np.ndarray, legacy: bool = True) -> None:
        """Put the world in ``state`` on a fresh space, then run one physics sub-step.

        ``legacy=True`` is the order the demonstrations were recorded with: agent position, block
        position, block angle. pymunk turns a body about its centre of gravity, so the block's
        origin ends up at ``legacy_landing_state(state)``, not at ``state[2:4]``. ``legacy=False``
        sets the angle first, so the origin lands exactly on ``state[2:4]``.
        """
        vec = _as_state_vector(state)
        self._build()
        self.agent.position = (vec[0], vec[1])
        if legacy:
            self.block.position = (vec[2], vec[3])
            self.block.angle = vec[4]
        else:
            self.block.angle = vec[4]
            self.block.position = (vec[2], vec[3])
        self.n_contact_points = 0
        self.space.step(C.DT)

    def step(self, target: Sequence[float] | np.ndarray) -> int:
        """Drive the agent towards ``target`` for one control step; return contacts per sub-step.

        The return value is the reference's ``n_contacts``: ceil(contact points summed over the
        sub-steps / N_SUBSTEPS); the raw sum stays in ``n_contact_points``. ``target`` is used as
        given (the environment validates and clips it).
        """
        tx, ty = float(target[0]), float(target[1])
        agent, space = self.agent, self.space
        self.n_contact_points = 0
        for _ in range(C.N_SUBSTEPS):
            px, py = agent.position
            vx, vy = agent.velocity
            ax = C.K_P * (tx - px) + C.K_V * (0.0 - vx)
            ay = C.K_P * (ty - py) + C.K_V * (0.0 - vy)
            agent.velocity = (vx + ax * C.DT, vy + ay * C.DT)
            space.step(C.DT)
        return math.ceil(self.n_contact_points / C.N_SUBSTEPS)

    @property
    def state(self) -> np.ndarray:
        """[agent_x, agent_y, block_x, block_y, block_angle mod 2 pi], float64 (5,)."""
        ax, ay = self.agent.position
        bx, by = self.block.position
        return np.array([ax, ay, bx, by, self.block.angle % (2 * math.pi)])

    @property
    def agent_velocity(self) -> np.ndarray:
        return np.array(tuple(self.agent.velocity))

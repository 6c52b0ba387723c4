"""Open-loop replay: the states a sequence of actions visits from a raw start state."""

from __future__ import annotations

import numpy as np

from course_lib.pusht import constants as C
from course_lib.pusht.physics import PushTWorld


def replay(
    start: np.ndarray,
    actions: np.ndarray,
    legacy: bool = True,
    block_moment: float = C.BLOCK_MOMENT,
) -> tuple[np.ndarray, np.ndarray]:
    """States (T + 1, 5) from the raw ``start`` under ``actions`` (T, 2), and n_contacts (T,).

    ``start`` is set like a reset (legacy order by default); state 0 is the state after it, state
    t + 1 the state after action t. Targets are used unclipped, as the reference did.
    ``block_moment`` other than the default shows the moment-of-inertia quirk (PUSHT.md).
    """
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim != 2 or actions.shape[1] != 2:
        raise ValueError(f"actions must have shape (T, 2), got {actions.shape}")
    world = PushTWorld(block_moment)
    world.set_state(start, legacy=legacy)
    states = np.empty((len(actions) + 1, 5))
    contacts = np.empty(len(actions), dtype=np.int64)
    states[0] = world.state
    for t, target in enumerate(actions):
        contacts[t] = world.step(target)
        states[t + 1] = world.state
    return states, contacts

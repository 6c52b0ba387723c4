"""A loss curve that redraws in place while ``course_lib.train.train`` runs.

``LiveLoss`` collects the per-step losses (``on_step``) and validation rows (``on_record``) of one or
several runs and redraws ``plots.policy.live_loss_figure`` under one display handle, at most once
every ``every_s`` seconds so that drawing never slows training by more than a few per cent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from IPython.display import display
from matplotlib.figure import Figure

from course_lib.plots.policy import live_loss_figure


class LiveLoss:
    """Live training curves of named runs; ``hooks(name)`` gives ``train``'s two callbacks."""

    def __init__(self, every_s: float = 2.0, show: bool = True):
        self.every_s = float(every_s)
        self.step_losses: dict[str, list[float]] = {}
        self.histories: dict[str, list[dict[str, float]]] = {}
        self._last_draw = 0.0
        self._handle = display("training starts…", display_id=True) if show else None

    def hooks(
        self, name: str
    ) -> tuple[Callable[[int, float], None], Callable[[dict[str, float]], None]]:
        """``(on_step, on_record)`` for the run called ``name``."""
        losses = self.step_losses.setdefault(name, [])
        rows = self.histories.setdefault(name, [])

        def on_step(step: int, loss: float) -> None:
            losses.append(loss)
            if time.perf_counter() - self._last_draw >= self.every_s:
                self.draw()

        return on_step, rows.append

    def figure(self) -> Figure:
        """The current curves as a new figure."""
        return live_loss_figure(self.step_losses, self.histories)

    def draw(self) -> None:
        """Redraw the curves in place now."""
        self._last_draw = time.perf_counter()
        if self._handle is None or not any(self.step_losses.values()):
            return
        self._handle.update(self.figure())

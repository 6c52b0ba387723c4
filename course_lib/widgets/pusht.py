"""Widgets of notebook 06: replaying demonstrations, moving the block over the goal, and a pushing
game. Each slider app wraps a pure function of this module that the tests call directly."""

from __future__ import annotations

import math
import traceback

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib.figure import Figure

from course_lib.data import PushTDemos
from course_lib.plots.pusht import coverage_figure, replay_figure, single_scene_figure
from course_lib.pusht import constants as C
from course_lib.pusht.env import PushTEnv


def demo_frame(demos: PushTDemos, episode: int, frame: int) -> Figure:
    """Episode ``episode`` of ``demos`` at ``frame`` (clamped to the episode's last frame)."""
    ep = demos.episode(int(episode))
    return replay_figure(ep["states"], ep["actions"], int(frame), title=f"episode {int(episode)}")


def replay_app(demos: PushTDemos) -> widgets.VBox:
    """Episode and frame sliders over ``demo_frame``."""
    from course_lib.widgets import slider_app

    longest = int(demos.episode_lengths().max()) - 1
    return slider_app(
        lambda episode, frame: demo_frame(demos, episode, frame),
        title="Replay a demonstration (frames past the episode's end show its last frame)",
        episode=widgets.IntSlider(0, min=0, max=demos.n_episodes - 1, description="episode"),
        frame=widgets.IntSlider(0, min=0, max=longest, description="frame"),
    )


def goal_offset_state(dx: float, dy: float, dtheta_deg: float) -> np.ndarray:
    """A state whose block sits at the goal moved by (dx, dy) px and turned by dtheta degrees."""
    x, y, theta = C.GOAL_POSE
    return np.array([60.0, 60.0, x + dx, y + dy, theta + math.radians(dtheta_deg)])


def coverage_at_offset(dx: float, dy: float, dtheta_deg: float) -> Figure:
    """The coverage picture for ``goal_offset_state``."""
    return coverage_figure(goal_offset_state(dx, dy, dtheta_deg)[None], titles=["block vs goal"])


def coverage_app() -> widgets.VBox:
    """Sliders that move and turn the block about the goal pose."""
    from course_lib.widgets import slider_app

    return slider_app(
        coverage_at_offset,
        title="Coverage: move the block off the goal",
        dx=widgets.FloatSlider(0.0, min=-60.0, max=60.0, step=1.0, description="dx (px)"),
        dy=widgets.FloatSlider(0.0, min=-60.0, max=60.0, step=1.0, description="dy (px)"),
        dtheta_deg=widgets.FloatSlider(
            0.0, min=-90.0, max=90.0, step=1.0, description="turn (deg)"
        ),
    )


class PushGame(widgets.VBox):
    """Push the T yourself: arrow buttons move the agent's target relative to the agent, or set
    the target with the sliders and press "go"; each press runs ``steps_per_press`` env steps."""

    def __init__(
        self, seed: int = C.TEST_SEEDS[0], step_px: float = 25.0, steps_per_press: int = 3
    ):
        self.env = PushTEnv(obs_type="state")
        self.seed = seed
        self.step_px = step_px
        self.steps_per_press = steps_per_press
        self.last_error: BaseException | None = None
        self.output = widgets.Output()
        self.status = widgets.HTML()
        self.target_x = widgets.FloatSlider(
            256.0, min=0.0, max=C.WORLD_SIZE, description="target x"
        )
        self.target_y = widgets.FloatSlider(
            256.0, min=0.0, max=C.WORLD_SIZE, description="target y"
        )
        moves = {"←": (-1, 0), "→": (1, 0), "↑": (0, -1), "↓": (0, 1)}
        buttons = []
        for label, (sx, sy) in moves.items():
            button = widgets.Button(description=label, layout=widgets.Layout(width="48px"))
            button.on_click(
                self._guarded(lambda _b, sx=sx, sy=sy: self.push(sx * step_px, sy * step_px))
            )
            buttons.append(button)
        go = widgets.Button(description="go to target")
        go.on_click(self._guarded(lambda _b: self.go()))
        again = widgets.Button(description="reset")
        again.on_click(self._guarded(lambda _b: self.reset()))
        super().__init__(
            [
                widgets.HBox([*buttons, again]),
                widgets.HBox([self.target_x, self.target_y, go]),
                self.status,
                self.output,
            ]
        )
        self.reset()

    def _guarded(self, handler):
        def run(button):
            try:
                handler(button)
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - shown to the student, kept for tests
                self.last_error = exc
                with self.output:
                    print(traceback.format_exc())

        return run

    def reset(self, seed: int | None = None) -> Figure:
        """Start again from the seed's legacy start."""
        self.seed = self.seed if seed is None else seed
        _, info = self.env.reset(seed=self.seed)
        self.n_steps, self.best_reward, self.coverage = 0, 0.0, info["coverage"]
        self.target = self.env.state[:2].copy()
        return self._show()

    def step_to(self, target: np.ndarray) -> Figure:
        """Hold ``target`` for ``steps_per_press`` environment steps, then redraw."""
        for _ in range(self.steps_per_press):
            _, reward, _, _, info = self.env.step(target)
            self.n_steps += 1
            self.best_reward = max(self.best_reward, reward)
            self.coverage = info["coverage"]
        self.target = np.clip(np.asarray(target, dtype=np.float64), 0.0, C.WORLD_SIZE)
        return self._show()

    def push(self, dx: float, dy: float) -> Figure:
        """Move the target to the agent's position plus (dx, dy)."""
        return self.step_to(self.env.state[:2] + np.array([dx, dy]))

    def go(self) -> Figure:
        """Move towards the sliders' target."""
        return self.step_to(np.array([self.target_x.value, self.target_y.value]))

    def figure(self) -> Figure:
        title = f"seed {self.seed}, step {self.n_steps}: coverage {self.coverage:.3f}"
        return single_scene_figure(self.env.state, self.target, title=title)

    def _show(self) -> Figure:
        fig = self.figure()
        self.status.value = (
            f"steps {self.n_steps} / {C.MAX_STEPS}, coverage {self.coverage:.3f}, "
            f"best reward {self.best_reward:.3f}" + (" — success!" if self.coverage > 0.95 else "")
        )
        self.output.clear_output(wait=True)
        with self.output:
            display(fig)
        plt.close(fig)
        return fig


def push_game(seed: int = C.TEST_SEEDS[0]) -> PushGame:
    """The pushing game on the first evaluation seed (change ``seed`` for another start)."""
    return PushGame(seed=seed)

"""Widgets of notebook 06: replaying demonstrations, moving the block over the goal, and the
pushing game played with the mouse. Each slider app wraps a pure function of this module that the
tests call directly; the game's step (``MouseGame.tick``) is called directly too."""

from __future__ import annotations

import math
import os
import threading
import time
import traceback
from pathlib import Path

import imageio.v3 as imageio
import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_lib import config
from course_lib.data import PushTDemos, read_pusht_store
from course_lib.plots.pusht import coverage_figure, replay_figure
from course_lib.pusht import constants as C
from course_lib.pusht.env import PushTEnv
from course_lib.pusht.geometry import coverage
from course_lib.pusht.render import render_scene
from course_lib.recording import EpisodeRecorder, append_episode


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


def recordings_store() -> Path:
    """Where the game keeps your episodes: ``<cache>/recordings/pusht_mine.zarr``."""
    return config.cache_dir() / "recordings" / "pusht_mine.zarr"


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 image as PNG file bytes (what an ``ipywidgets.Image`` shows)."""
    return imageio.imwrite("<bytes>", image, extension=".png")


class MouseGame(widgets.VBox):
    """Push the T with the mouse, as the demonstrations were recorded: while playing, the agent's
    target is the pointer's position over the scene, read every 0.1 s (10 Hz); the coverage of
    the goal updates live. Every frame is recorded (``recording.EpisodeRecorder``); "save"
    appends the episode to ``store`` in the demonstrations' zarr layout, "replay" plays the last
    saved episode back.

    ``tick()`` is one control step and is what the 10 Hz loop calls; tests call it directly.
    """

    def __init__(
        self,
        seed: int = C.TEST_SEEDS[0],
        store: str | os.PathLike | None = None,
        size: int = 384,
    ):
        import ipyevents

        self.env = PushTEnv(obs_type="state")
        self.seed = seed
        self.store = Path(store) if store is not None else recordings_store()
        self.size = size
        self.last_error: BaseException | None = None
        self.pointer: np.ndarray | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self.scene = widgets.Image(
            format="png", layout=widgets.Layout(width=f"{size}px", height=f"{size}px")
        )
        self.scene.add_class("course-push-scene")
        self.events = ipyevents.Event(
            source=self.scene, watched_events=["mousemove"], prevent_default_action=True
        )
        self.events.on_dom_event(self._on_pointer)
        self.status = widgets.HTML()
        self.status.add_class("course-push-status")
        self.messages = widgets.Output()
        buttons = {
            "play": self.play,
            "stop": self.stop,
            "reset": self.reset,
            "save episode": self.save,
            "replay last saved": self.replay,
        }
        row = []
        for label, handler in buttons.items():
            button = widgets.Button(description=label, layout=widgets.Layout(width="auto"))
            button.on_click(self._guarded(handler))
            row.append(button)
        super().__init__([widgets.HBox(row), self.status, self.scene, self.messages])
        self.add_class("course-push-game")
        self.reset()

    def _guarded(self, handler):
        def run(_button):
            try:
                handler()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - shown to the student, kept for tests
                self.last_error = exc
                with self.messages:
                    print(traceback.format_exc())

        return run

    def _on_pointer(self, event: dict) -> None:
        """Pointer position over the scene, in world pixels."""
        scale = C.WORLD_SIZE / float(event["boundingRectWidth"])
        self.pointer = np.array([event["relativeX"] * scale, event["relativeY"] * scale])

    def reset(self) -> None:
        """Stop, and start a new episode from the seed's start."""
        self.stop()
        _, info = self.env.reset(seed=self.seed)
        self.recorder = EpisodeRecorder()
        self.coverage, self.best_reward = info["coverage"], 0.0
        self.target = self.env.state[:2].copy()
        self._show(self.env.state, None)

    @property
    def done(self) -> bool:
        return len(self.recorder) >= C.MAX_STEPS or self.coverage > C.SUCCESS_COVERAGE

    def tick(self) -> None:
        """One 10 Hz control step: record the state and the pointer's target, step, redraw."""
        if self.done:
            return
        state = self.env.state
        target = self.pointer if self.pointer is not None else state[:2]
        self.target = np.clip(target, 0.0, C.WORLD_SIZE)
        self.recorder.record(state, self.target, self.env.n_contacts)
        _, reward, _, _, info = self.env.step(self.target)
        self.coverage, self.best_reward = info["coverage"], max(self.best_reward, reward)
        self._show(self.env.state, self.target)

    def play(self) -> None:
        """Run ``tick`` every 0.1 s in the background until stopped, done, or reset."""
        if self._running:
            return
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        period = 1.0 / C.CONTROL_HZ
        next_time = time.monotonic()
        try:
            while self._running and not self.done:
                self.tick()
                next_time += period
                time.sleep(max(0.0, next_time - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - a thread cannot raise to the student
            self.last_error = exc
            with self.messages:
                print(traceback.format_exc())
        finally:
            self._running = False
            self._show(self.env.state, self.target)

    def stop(self) -> None:
        """Stop the 10 Hz loop (the episode so far stays recorded)."""
        self._running = False
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def save(self) -> PushTDemos:
        """Append the episode to ``store``; return everything stored there."""
        self.stop()
        stored = append_episode(self.store, self.recorder.demos())
        with self.messages:
            print(
                f"saved {len(self.recorder)} frames as episode {stored.n_episodes - 1} of "
                f"{self.store}"
            )
        return stored

    def replay(self) -> None:
        """Play the last saved episode back at 10 Hz (in the background)."""
        self.stop()
        episode = read_pusht_store(self.store).episode(-1)
        self._running = True
        self._thread = threading.Thread(target=self._play_back, args=(episode,), daemon=True)
        self._thread.start()

    def _play_back(self, episode: dict) -> None:
        for state, action in zip(episode["states"], episode["actions"], strict=True):
            if not self._running:
                break
            self._show(state.astype(np.float64), action, replaying=True)
            time.sleep(1.0 / C.CONTROL_HZ)
        self._running = False

    def _show(self, state: np.ndarray, target: np.ndarray | None, replaying: bool = False) -> None:
        cov = coverage(state)
        mode = "replay" if replaying else ("playing" if self._running else "stopped")
        self.status.value = (
            f"<b>{mode}</b> · seed {self.seed} · step {len(self.recorder)} / {C.MAX_STEPS} · "
            f"coverage <b>{cov:.3f}</b> · best reward {self.best_reward:.3f}"
            + (" · success!" if cov > C.SUCCESS_COVERAGE else "")
        )
        self.scene.value = png_bytes(render_scene(state, self.size, action=target))


def push_game(seed: int = C.TEST_SEEDS[0], store: str | os.PathLike | None = None) -> MouseGame:
    """The mouse pushing game on the first evaluation seed (change ``seed`` for another start)."""
    return MouseGame(seed=seed, store=store)

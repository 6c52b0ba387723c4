"""The pushing game played with a (synthetic) mouse in JupyterLab: one episode, saved and checked.

The pointer sweeps across the scene while the game runs at 10 Hz; the saved store must hold the
demonstrations' layout, targets that follow the pointer, and states that replay from the seed's
start under the recorded actions.
"""

from __future__ import annotations

import time

import nbformat
import numpy as np
from lab_driver import open_notebook, run_all, tracebacks

from course_lib.data import read_pusht_store
from course_lib.pusht import constants as C
from course_lib.pusht import legacy_reset_state
from course_lib.pusht.replay import replay

SEED = C.TEST_SEEDS[0]


def _game_notebook(lab) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from course_lib.widgets import pusht as pwidgets\n"
            f"game = pwidgets.push_game(seed={SEED}, store='my_episodes.zarr')\ngame"
        )
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    (lab.root / "scratch").mkdir(exist_ok=True)
    nbformat.write(nb, lab.root / "scratch" / "game.ipynb")
    return "../scratch/game.ipynb"


def _click(page, label: str) -> None:
    page.locator(".course-push-game button", has_text=label).first.click()


def test_one_episode_with_the_mouse(page, lab):
    open_notebook(page, lab, _game_notebook(lab))
    run_all(page, timeout=120)
    assert tracebacks(page) == []
    scene = page.locator(".course-push-scene")
    scene.wait_for()
    box = scene.bounding_box()
    to_screen = box["width"] / C.WORLD_SIZE

    start = legacy_reset_state(SEED)
    # From the agent's start towards the middle of the table: 30 pointer moves 0.1 s apart.
    path = start[:2] + np.linspace(0.0, 1.0, 30)[:, None] * (np.array([256.0, 256.0]) - start[:2])
    page.mouse.move(box["x"] + path[0, 0] * to_screen, box["y"] + path[0, 1] * to_screen)
    status = page.locator(".course-push-status")
    began = time.monotonic()
    _click(page, "play")
    for x, y in path:
        page.mouse.move(box["x"] + x * to_screen, box["y"] + y * to_screen)
        page.wait_for_timeout(100)
    _click(page, "stop")
    # The kernel may take the stop later than the click on a loaded machine: the play time runs
    # from the click on play until the game says it has stopped.
    page.wait_for_function(
        "el => el.innerText.startsWith('stopped')", arg=status.element_handle(), timeout=60_000
    )
    played_s = time.monotonic() - began
    status = status.inner_text()
    assert "coverage" in status, status
    _click(page, "save episode")
    store = lab.root / "scratch" / "my_episodes.zarr"
    deadline = time.monotonic() + 30
    while not store.exists() and time.monotonic() < deadline:
        page.wait_for_timeout(200)

    demos = read_pusht_store(store)
    episode = demos.episode(0)
    n = len(episode["actions"])
    # Never faster than 10 Hz; slower only if the machine is starved (then the loop catches up).
    assert demos.n_episodes == 1 and 10 <= n <= 10 * played_s + 2, (n, played_s)
    print(f"{n} frames in {played_s:.1f} s of play ({n / played_s:.1f} Hz)")
    # The targets are the pointer's positions, in order, within a screen pixel of the path.
    reach = np.abs(episode["actions"][:, None, :] - path[None]).max(axis=2).min(axis=1)
    assert reach.max() < 2.0 / to_screen, reach.max()
    assert np.all(np.diff(episode["actions"][:, 0]) * np.sign(path[-1, 0] - path[0, 0]) >= -1e-3)
    replayed, _ = replay(start, episode["actions"])
    np.testing.assert_allclose(episode["states"], replayed[:-1], atol=1e-2)

    before = scene.get_attribute("src")
    _click(page, "replay last saved")
    page.wait_for_timeout(1500)
    assert scene.get_attribute("src") != before, "the replay did not redraw the scene"
    assert tracebacks(page) == []
    assert page.console.errors == []

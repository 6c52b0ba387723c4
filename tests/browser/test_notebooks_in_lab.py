"""Every notebook run in JupyterLab and used as a student uses it.

Per notebook: Run All without a traceback (with exercise checks strict, as nbval ran them: this
is the notebooks' one execution in ``make test``, and the book is built from the saved results);
every slider app renders as a widget; on a 1024 px screen with the file browser open no control
is cut off or squeezed; every slider and dropdown is moved once and its figure changes, with at
most one redraw per action and an answer within 1 s (or a busy indicator while it works); the
live loss curve of 07 was drawn; the animations of 09 step offline; saving leaves the paired .py
as it was; no console errors. The measurements go to ``actions.json`` and ``latency.md`` in the
artifacts folder (``$BROWSER_ARTIFACTS`` or the session's pytest tmp).
"""

from __future__ import annotations

from pathlib import Path

import latency_report
import pytest
from lab_driver import (
    APP,
    act_and_measure,
    clipped_controls,
    move_slider,
    open_notebook,
    pick_next_option,
    run_all,
    save,
    tracebacks,
)

ROOT = Path(__file__).resolve().parents[2]
#: Every notebook, and how many slider apps it shows (07 and 09 show none: a live loss curve and
#: animations, checked on their own).
SLIDER_APPS = {
    "00_welcome": 1,
    "01_ito_calculus": 1,
    "02_vp_sde": 2,
    "03_ve_sde": 2,
    "04_cld": 3,
    "05_reverse_time": 1,
    "06_pusht": 2,
    "07_training": 0,
    "08_sampling": 1,
    "09_results": 0,
    "10_beyond_the_paper": 3,
}
#: Slowest acceptable answer to a control without a busy indicator.
MAX_SILENT_LATENCY_S = 1.0
#: Longest Run All of one notebook in fast mode on a loaded 2-core machine.
RUN_ALL_TIMEOUT_S = 600

ACTIONS: list[dict] = []
NOTEBOOKS: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def report(artifacts):
    start = latency_report.machine()
    yield
    path = latency_report.write(artifacts, ACTIONS, NOTEBOOKS, start)
    print(f"\ncallback latencies: {path}")


def test_every_notebook_is_listed():
    assert sorted(SLIDER_APPS) == sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.py"))


def _show_file_browser(page) -> None:
    page.evaluate(
        """() => { const shell = window.jupyterapp.shell;
                  if (shell.leftCollapsed) window.jupyterapp.commands.execute('filebrowser:activate'); }"""
    )
    page.wait_for_timeout(300)


def _use_slider_apps(page, name: str) -> list[str]:
    """Move every control of every slider app once; the problems seen."""
    apps = page.locator(APP)
    problems = []
    for i in range(apps.count()):
        app = apps.nth(i)
        app.scroll_into_view_if_needed()
        problems += [f"app {i}: {p}" for p in clipped_controls(page, app)]
        controls = app.locator(".widget-slider, .widget-dropdown")
        for j in range(controls.count()):
            control = controls.nth(j)
            label = control.locator(".widget-label").inner_text().strip() or f"control {j}"
            is_slider = "widget-slider" in (control.get_attribute("class") or "")
            if is_slider:
                measured = act_and_measure(page, app, lambda c=control: move_slider(page, c))
            else:
                measured = act_and_measure(page, app, lambda c=control: pick_next_option(c))
            ACTIONS.append({"notebook": name, "app": i, "control": label, **measured})
            where = f"{name} app {i} {label!r}"
            if not measured["changed"]:
                problems.append(f"{where}: the figure did not change")
            if measured["redraws"] > 1:
                problems.append(f"{where}: {measured['redraws']} redraws for one action")
            latency = measured["latency_s"]
            if latency is None or (latency > MAX_SILENT_LATENCY_S and not measured["busy_seen"]):
                problems.append(f"{where}: {latency} s without a busy indicator")
    return problems


def _live_loss_was_drawn(page) -> list[str]:
    """07: the live loss display ends as a figure, not its "training starts…" placeholder."""
    placeholders = page.locator(".jp-OutputArea-output:text-is('training starts…')").count()
    return [f"07: {placeholders} live loss displays never drawn"] if placeholders else []


def _animations_step(page) -> list[str]:
    """09: every animation player is there and its "Next frame" button shows another frame."""
    players = page.locator(".jp-OutputArea-output .animation")
    if players.count() == 0:
        return ["09: no animation player"]
    problems = []
    for i in range(players.count()):
        player = players.nth(i)
        player.scroll_into_view_if_needed()
        image = player.locator("img").first
        before = image.get_attribute("src")
        player.locator("button[title='Next frame']").click()
        page.wait_for_timeout(200)
        if image.get_attribute("src") == before:
            problems.append(f"09: animation {i} did not step")
    return problems


@pytest.mark.parametrize("name", sorted(SLIDER_APPS))
def test_notebook_as_a_student_uses_it(page, lab, name):
    source = (lab.root / "notebooks" / f"{name}.py").read_text()
    open_notebook(page, lab, f"{name}.ipynb")
    _show_file_browser(page)
    run_s = run_all(page, timeout=RUN_ALL_TIMEOUT_S)
    NOTEBOOKS[name] = {"run_all_s": round(run_s, 1)}
    assert tracebacks(page) == [], f"{name}: Run All raised"

    assert page.locator(APP).count() == SLIDER_APPS[name], f"{name}: slider apps rendered"
    assert page.locator(".jp-OutputArea-output:has-text('Error displaying widget')").count() == 0
    problems = _use_slider_apps(page, name)
    if name == "07_training":
        problems += _live_loss_was_drawn(page)
    if name == "09_results":
        problems += _animations_step(page)
    assert tracebacks(page) == [], f"{name}: a control raised"

    save(page)
    assert (lab.root / "notebooks" / f"{name}.py").read_text() == source, "saving changed the .py"
    assert problems == []
    assert page.console.errors == [], f"{name}: console errors"
    print(f"{name}: run all {run_s:.1f} s, {len(ACTIONS)} actions so far")


def test_every_figure_is_shown_once(lab):
    """In the notebooks saved by the tests above, no cell shows the same image twice (a figure
    left open in pyplot shows as the cell's value, then again when the inline backend flushes),
    and every cell that writes a figure to disk shows one."""
    import nbformat

    twice, unseen = [], []
    for path in sorted((lab.root / "notebooks").glob("[0-9]*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            images = [
                out["data"]["image/png"]
                for out in cell.get("outputs", [])
                if "image/png" in out.get("data", {})
            ]
            if len(images) != len(set(images)):
                twice.append(f"{path.stem} cell {i}")
            if "save_figure(" in cell.source and not images:
                unseen.append(f"{path.stem} cell {i}")
    assert twice == [], f"{len(twice)} cells show a figure twice: {twice}"
    assert unseen == [], f"{len(unseen)} cells write a figure they do not show: {unseen}"

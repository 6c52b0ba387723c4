"""Every notebook with widgets, run in JupyterLab and used as a student uses it.

Per notebook: Run All without a traceback; every slider app renders as a widget; on a 1024 px
screen with the file browser open no control is cut off or squeezed; every slider and dropdown is
moved once and its figure changes, with at most one redraw per action and an answer within 1 s
(or a busy indicator while it works); saving leaves the paired .py as it was; no console errors.
The measured actions are written to ``build/browser/actions.json``.
"""

from __future__ import annotations

import json

import pytest
from lab_driver import (
    APP,
    ARTIFACTS,
    act_and_measure,
    clipped_controls,
    move_slider,
    open_notebook,
    pick_next_option,
    run_all,
    save,
    tracebacks,
)

#: Notebooks with slider apps, and how many each shows.
WIDGET_NOTEBOOKS = {
    "00_welcome": 1,
    "01_ito_calculus": 1,
    "02_vp_sde": 2,
    "03_ve_sde": 2,
    "04_cld": 3,
    "05_reverse_time": 1,
    "06_pusht": 2,
    "08_sampling": 1,
    "10_beyond_the_paper": 3,
}
#: Slowest acceptable answer to a control without a busy indicator.
MAX_SILENT_LATENCY_S = 1.0

ACTIONS: list[dict] = []


@pytest.fixture(scope="module", autouse=True)
def write_actions():
    yield
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "actions.json").write_text(json.dumps(ACTIONS, indent=1))


def _show_file_browser(page) -> None:
    page.evaluate(
        """() => { const shell = window.jupyterapp.shell;
                  if (shell.leftCollapsed) window.jupyterapp.commands.execute('filebrowser:activate'); }"""
    )
    page.wait_for_timeout(300)


@pytest.mark.parametrize("name", sorted(WIDGET_NOTEBOOKS))
def test_notebook_as_a_student_uses_it(page, lab, name):
    source = (lab.root / "notebooks" / f"{name}.py").read_text()
    open_notebook(page, lab, f"{name}.ipynb")
    _show_file_browser(page)
    run_s = run_all(page)
    assert tracebacks(page) == [], f"{name}: Run All raised"

    apps = page.locator(APP)
    assert apps.count() == WIDGET_NOTEBOOKS[name], f"{name}: slider apps rendered"
    assert page.locator(".jp-OutputArea-output:has-text('Error displaying widget')").count() == 0

    problems = []
    for i in range(apps.count()):
        app = apps.nth(i)
        app.scroll_into_view_if_needed()
        problems += [f"app {i}: {p}" for p in clipped_controls(page, app)]
        controls = app.locator(".widget-slider, .widget-dropdown")
        for j in range(controls.count()):
            control = controls.nth(j)
            label = control.locator(".widget-label").inner_text().strip()
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
    assert tracebacks(page) == [], f"{name}: a control raised"

    save(page)
    assert (lab.root / "notebooks" / f"{name}.py").read_text() == source, "saving changed the .py"
    assert problems == []
    assert page.console.errors == [], f"{name}: console errors"
    print(f"{name}: run all {run_s:.1f} s, {len(ACTIONS)} actions so far")

"""Driving JupyterLab from Playwright as a student does: open, run all, move controls, save.

The JavaScript here reads JupyterLab's own objects (``window.jupyterapp``, exposed by the suite's
server) for state the page does not show in a stable form (kernel status, execution counts), and
the DOM for everything the student sees (widgets, images, sizes).
"""

from __future__ import annotations

import time

#: Classes the course's widgets put on their DOM (see course_lib.widgets.base).
APP = ".course-slider-app"
BUSY = ".course-busy"

_NOTEBOOK_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const running = cells.filter(c => (c.promptNode?.textContent || '').includes('*')).length;
  const unrun = cells.filter(c => c.model.sharedModel.getSource().trim() !== ''
                                 && c.model.executionCount === null).length;
  const errors = cells.filter(c => {
    const outputs = c.model.outputs;
    for (let i = 0; i < outputs.length; i++) if (outputs.get(i).type === 'error') return true;
    return false;
  }).length;
  const kernel = panel.sessionContext.session?.kernel;
  return {running, unrun, errors, status: kernel ? kernel.status : 'none', cells: cells.length};
}"""

_START_RECORDING = """(app) => {
  const out = app.querySelector('.widget-output');
  const busy = app.querySelector('.course-busy');
  const rec = {start: performance.now(), first: null, last: null, redraws: 0, busySeen: false};
  const outputs = new MutationObserver(mutations => {
    for (const m of mutations) for (const n of m.addedNodes) {
      if (n.nodeType === 1 && n.classList.contains('jp-OutputArea-child')) {
        rec.redraws += 1;
        rec.last = performance.now();
        if (rec.first === null) rec.first = rec.last;
      }
    }
  });
  outputs.observe(out, {childList: true, subtree: true});
  const indicator = new MutationObserver(() => {
    if (busy && busy.textContent.trim()) rec.busySeen = true;
  });
  if (busy) indicator.observe(busy, {childList: true, subtree: true, characterData: true});
  window.__courseRecording = {rec, observers: [outputs, indicator]};
}"""

_READ_RECORDING = """(app) => {
  const {rec} = window.__courseRecording;
  const busy = app.querySelector('.course-busy');
  return {...rec, now: performance.now(), busyNow: !!(busy && busy.textContent.trim())};
}"""

_STOP_RECORDING = """() => { window.__courseRecording.observers.forEach(o => o.disconnect()); }"""

_OUTPUT_SIGNATURE = """(app) => {
  const out = app.querySelector('.widget-output');
  const img = out.querySelector('img');
  return img ? img.src.slice(-2000) + img.src.length : out.innerText;
}"""


def open_notebook(page, lab, name: str) -> None:
    """Open ``notebooks/<name>`` alone (``reset``: no tabs restored from an earlier page) and wait
    for its kernel. The generous timeouts are for a loaded machine."""
    page.goto(lab.url(f"lab/tree/notebooks/{name}?reset"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=300_000)
    wait_for(page, lambda s: s and s["status"] == "idle", timeout=300)


def wait_for(page, condition, timeout: float, script: str = _NOTEBOOK_STATE, arg=None):
    """Poll ``script`` until ``condition(result)`` holds; return the result."""
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(script, arg) if arg is not None else page.evaluate(script)
        if condition(state):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout} s; last state {state}")
        page.wait_for_timeout(250)


def run_all(page, timeout: float = 300) -> float:
    """Run all cells (the student's "Run All") and wait until every one has run, or a cell has
    raised (the kernel then skips the rest); seconds taken."""
    start = time.monotonic()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_timeout(500)
    wait_for(
        page,
        lambda s: s["running"] == 0 and s["status"] == "idle" and (s["unrun"] == 0 or s["errors"]),
        timeout,
    )
    return time.monotonic() - start


def tracebacks(page) -> list[str]:
    """Errors raised in the notebook's cells (from the cell models, so none is missed): the
    exception and the end of its traceback, one string per error."""
    return page.evaluate(
        """() => {
      const panel = window.jupyterapp.shell.currentWidget;
      const found = [];
      for (const cell of panel.content.widgets) {
        const outputs = cell.model.outputs;
        if (!outputs) continue;
        for (let i = 0; i < outputs.length; i++) {
          const out = outputs.get(i).toJSON();
          if (out.output_type !== 'error') continue;
          const tb = (out.traceback || []).join('\\n').replace(/\\x1b\\[[0-9;]*m/g, '');
          found.push(`${out.ename}: ${out.evalue}\\n${tb.slice(-1500)}`);
        }
      }
      return found;
    }"""
    )


def save(page) -> None:
    """Save as the student's Ctrl+S does, and wait for the save to finish."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    wait_for(
        page,
        lambda dirty: dirty is False,
        timeout=30,
        script="() => window.jupyterapp.shell.currentWidget.context.model.dirty",
    )
    page.wait_for_timeout(500)


def act_and_measure(page, app, do, *, settle_s: float = 0.5, timeout: float = 120) -> dict:
    """Run ``do()`` (one user action on a control of ``app``) and watch ``app``'s output area:
    latency to the first new output, number of outputs drawn, whether the busy indicator showed,
    and whether the figure changed. Waits until the busy indicator is off and nothing new has
    been drawn for ``settle_s``."""
    before = app.evaluate(_OUTPUT_SIGNATURE)
    app.evaluate(_START_RECORDING)
    do()
    deadline = time.monotonic() + timeout
    while True:
        rec = app.evaluate(_READ_RECORDING)
        quiet_ms = rec["now"] - (rec["last"] if rec["last"] is not None else rec["start"])
        if rec["first"] is not None and not rec["busyNow"] and quiet_ms > 1000 * settle_s:
            break
        if time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    page.evaluate(_STOP_RECORDING)
    latency = None if rec["first"] is None else (rec["first"] - rec["start"]) / 1000
    return {
        "latency_s": latency,
        "redraws": rec["redraws"],
        "busy_seen": rec["busySeen"],
        "changed": app.evaluate(_OUTPUT_SIGNATURE) != before,
    }


def move_slider(page, slider) -> None:
    """Press the arrow key on the slider's handle, one step up (down at the maximum)."""
    handle = slider.locator(".noUi-handle").first
    now = float(handle.get_attribute("aria-valuenow"))
    top = float(handle.get_attribute("aria-valuemax"))
    handle.focus()
    page.keyboard.press("ArrowLeft" if now >= top else "ArrowRight")


def pick_next_option(dropdown) -> None:
    """Choose the option after the current one (the first after the last)."""
    select = dropdown.locator("select")
    options = select.locator("option").all_inner_texts()
    current = select.evaluate("s => s.selectedIndex")
    select.select_option(index=(current + 1) % len(options))


def clipped_controls(page, app) -> list[str]:
    """Controls of ``app`` cut off by the notebook's right edge, or squeezed below a usable
    width (a slider track under 80 px, a dropdown under 60 px)."""
    return app.evaluate(
        """(app) => {
      const area = app.closest('.jp-OutputArea-output') || app;
      const edge = Math.min(area.getBoundingClientRect().right,
                            app.closest('.jp-NotebookPanel').getBoundingClientRect().right);
      const bad = [];
      app.querySelectorAll('.widget-slider, .widget-dropdown').forEach(el => {
        const label = (el.querySelector('.widget-label')?.innerText || '?').trim();
        const box = el.getBoundingClientRect();
        if (box.right > edge + 1) bad.push(`${label}: right edge ${box.right} > ${edge}`);
        const track = el.querySelector('.slider-container, select');
        const width = track ? track.getBoundingClientRect().width : 0;
        const need = el.classList.contains('widget-slider') ? 80 : 60;
        if (width < need) bad.push(`${label}: control ${width} px wide`);
        const readout = el.querySelector('.widget-readout');
        if (readout && readout.getBoundingClientRect().right > edge + 1)
          bad.push(`${label}: readout cut off`);
      });
      return bad;
    }"""
    )

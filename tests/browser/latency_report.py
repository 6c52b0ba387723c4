"""The browser suite's measurements as JSON and as a Markdown table, per notebook and control.

Each action is one move of one control: latency from the action to the first new output, the
number of outputs drawn for it (redraws), whether the busy indicator showed, and whether the
figure changed. The machine's load average is written beside them: timings taken while other
work competes for the CPU are inflated.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path


def machine() -> dict:
    """CPU count, load averages and time: the context the latencies were measured in."""
    return {
        "cpus": os.cpu_count(),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def markdown(actions: list[dict], notebooks: dict[str, dict], start: dict, end: dict) -> str:
    """A table per notebook: Run All time, then every control's latency and redraw count."""
    lines = [
        "# Callback latency and redraws in JupyterLab (headless Chromium)",
        "",
        f"Measured by `tests/browser` on {start['cpus']} CPUs, fast mode. Load average "
        f"(1/5/15 min) {start['loadavg_1_5_15']} at the start, {end['loadavg_1_5_15']} at the "
        f"end ({start['when']} to {end['when']}).",
        "",
        "| notebook | app | control | latency (s) | redraws | busy shown | figure changed |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in actions:
        lines.append(
            f"| {a['notebook']} | {a['app']} | {a['control']} | {_seconds(a['latency_s'])} | "
            f"{a['redraws']} | {'yes' if a['busy_seen'] else 'no'} | "
            f"{'yes' if a['changed'] else 'no'} |"
        )
    lines += [
        "",
        "| notebook | Run All (s) | actions | slowest (s) | most redraws |",
        "|---|---|---|---|---|",
    ]
    for name, info in sorted(notebooks.items()):
        mine = [a for a in actions if a["notebook"] == name]
        latencies = [a["latency_s"] for a in mine if a["latency_s"] is not None]
        slowest = _seconds(max(latencies)) if latencies else "-"
        redraws = max((a["redraws"] for a in mine), default="-")
        lines.append(f"| {name} | {info['run_all_s']:.1f} | {len(mine)} | {slowest} | {redraws} |")
    return "\n".join(lines) + "\n"


def write(folder: Path, actions: list[dict], notebooks: dict[str, dict], start: dict) -> Path:
    """``actions.json`` and ``latency.md`` in ``folder``; returns the Markdown file's path."""
    end = machine()
    folder.mkdir(parents=True, exist_ok=True)
    record = {"start": start, "end": end, "notebooks": notebooks, "actions": actions}
    (folder / "actions.json").write_text(json.dumps(record, indent=1))
    path = folder / "latency.md"
    path.write_text(markdown(actions, notebooks, start, end))
    return path

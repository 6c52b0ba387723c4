"""The real-browser suite: JupyterLab on a free port with a token, driven by headless Chromium.

JupyterLab serves a temporary copy of the notebooks (paired .ipynb + .py, as ``make lab`` makes
them) with its own settings, workspaces, runtime and config directories, so the suite never touches
the source tree or the user's Jupyter set-up. Fast mode is on and figures go to a temporary folder.
Chromium is the distribution's package (``/usr/bin/chromium``), driven by Playwright for Python.

A failing test leaves a screenshot, and the suite its measurements, in the session's pytest
temporary folder (``artifacts/``), or in ``$BROWSER_ARTIFACTS`` when set; never in the source tree.
Under ``CI`` a missing browser is an error, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The screen of the layout checks: a 1024 px laptop.
VIEWPORT = {"width": 1024, "height": 768}
#: JupyterLab settings: nothing fetched from the internet (news, update checks); every cell kept
#: in the page (no windowing), so the suite sees all outputs.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _require_browser_stack():
    """Playwright and Chromium, or a skip outside CI and an error inside it."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e .)")
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "the browser suite needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + "; `make test` installs them", pytrace=False)
        pytest.skip(message)


class Lab:
    """A running JupyterLab: ``url(path)`` gives an authenticated address, ``root`` its files."""

    def __init__(self, root: Path, port: int, token: str, process: subprocess.Popen):
        self.root, self.port, self.token, self.process = root, port, token, process

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def shut_down_kernels(self) -> None:
        """End every session and its kernel (a notebook's kernel holds most of a GiB)."""
        with urllib.request.urlopen(self.url("api/sessions"), timeout=30) as response:
            sessions = json.load(response)
        for session in sessions:
            request = urllib.request.Request(
                self.url(f"api/sessions/{session['id']}"), method="DELETE"
            )
            urllib.request.urlopen(request, timeout=60).close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    """JupyterLab on a free port, serving a copy of ``notebooks/`` paired as ``make lab`` pairs."""
    _require_browser_stack()
    home = tmp_path_factory.mktemp("lab")
    root = home / "course"
    (root / "notebooks").mkdir(parents=True)
    for source in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
        shutil.copy2(source, root / "notebooks" / source.name)
    shutil.copy2(ROOT / "jupytext.toml", root / "jupytext.toml")
    # Notebooks read the shipped results (figures/*.json, *.csv) and write figures: a copy.
    shutil.copytree(ROOT / "figures", home / "figures")
    subprocess.run(
        [sys.executable, "-m", "jupytext", "--to", "ipynb", "--quiet"]
        + sorted(str(p) for p in (root / "notebooks").glob("*.py")),
        check=True,
        cwd=root,
    )
    settings = home / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), os.urandom(16).hex()
    env = {
        **os.environ,
        "COURSE_FAST": "1",
        "COURSE_EXERCISES_STRICT": "1",  # a solution that fails its check raises, as under nbval
        "COURSE_FIGURES": str(home / "figures"),
        "COURSE_LIB_CACHE": str(home / "cache"),  # the game's recordings land here
        "OMP_NUM_THREADS": "1",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as a student gets it
    log = (home / "lab.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    server = Lab(root, port, token, process)
    server.figures = home / "figures"
    deadline = time.monotonic() + 300  # a loaded 2-core machine starts it slowly
    while True:
        try:
            urllib.request.urlopen(server.url("api/status"), timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("JupyterLab did not start:\n" + (home / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
    yield server
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Where screenshots and measurements go: ``$BROWSER_ARTIFACTS`` or the session's tmp."""
    explicit = os.environ.get("BROWSER_ARTIFACTS")
    folder = Path(explicit) if explicit else tmp_path_factory.getbasetemp() / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _fresh_kernels(request):
    """After each test that used JupyterLab, its kernels are shut down."""
    lab = request.getfixturevalue("lab") if "lab" in request.fixturenames else None
    yield
    if lab is not None:
        lab.shut_down_kernels()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from the distribution, through Playwright."""
    _require_browser_stack()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def renice_descendants() -> None:
    """Give every process this test run started the run's own priority (Chromium raises some of
    its own priorities): under ``nice -n 19`` the suite never competes with other work on a
    shared machine, and in CI it runs at the priority of the tests beside it."""
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    todo = list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)
        except OSError:
            pass


class ConsoleLog:
    """Console errors and uncaught page errors seen by one page."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on(
            "requestfailed",
            lambda req: self.errors.append(f"request failed: {req.url} ({req.failure})"),
        )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The book is built from the notebooks the lab tests executed: its tests run last (after
    any shuffling)."""
    items.sort(key=lambda item: "test_the_built_book" in item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, artifacts, request):
    """A fresh 1024x768 page whose console errors are collected (``page.console.errors``); a
    screenshot is saved when the test fails."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    renice_descendants()
    page.set_default_timeout(120_000)
    page.console = ConsoleLog(page)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        print(f"screenshot: {artifacts / name}.png")
    context.close()

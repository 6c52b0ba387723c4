"""The built book (``make book``) opened in Chromium: every page loads, internal links and
images resolve, MathJax has typeset every formula (no raw ``$$`` left), no console errors.

The book is read from ``build/book/html`` (``$COURSE_BOOK_HTML`` elsewhere); when it is missing,
it is built here in fast mode, as CI does, from the notebooks the browser suite ran.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK_HTML = Path(os.environ.get("COURSE_BOOK_HTML", ROOT / "build" / "book" / "html"))

#: Text of the page outside code, after typesetting, and every link and image on it.
_PAGE_FACTS = """() => {
  const body = document.querySelector('main') || document.body;
  const clone = body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, .MathJax_Preview').forEach(e => e.remove());
  return {
    text: clone.innerText,
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                                      .map(i => i.getAttribute('src').slice(0, 80)),
    typeset: document.querySelectorAll('.MathJax, .MathJax_Display, mjx-container').length,
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  };
}"""

#: True once MathJax (version 2) has typeset every formula: no ``.math`` element still holds a raw
#: delimiter, and every TeX script it made has its rendered frame. (MathJax's own queue can stay
#: pending on a web-font check after the page is typeset, so the page itself is read.)
_TYPESET = r"""() => {
  if (!window.MathJax || !window.MathJax.isReady) return false;
  for (const el of document.querySelectorAll('.math')) {
    const copy = el.cloneNode(true);
    copy.querySelectorAll('script').forEach(s => s.remove());
    if (/\\\(|\\\[|\$\$/.test(copy.textContent)) return false;
  }
  return [...document.querySelectorAll('script[type^="math/tex"]')]
    .every(s => document.getElementById(s.id + '-Frame'));
}"""


@pytest.fixture(scope="module")
def book(request, tmp_path_factory) -> Path:
    """The built book's HTML folder. When it is missing (CI), it is built in fast mode from the
    notebooks the lab tests executed and saved (this module runs last); only the notebooks it did
    not run are executed."""
    if (BOOK_HTML / "index.html").exists():
        return BOOK_HTML
    lab = request.getfixturevalue("lab")
    source = tmp_path_factory.mktemp("book-src")
    for name in ("conf.py", "index.md", "ARCHITECTURE.md"):
        shutil.copy2(ROOT / "book" / name, source / name)
    (source / "_static").symlink_to(ROOT / "book" / "_static")
    for name in ("README.md", "ARCHITECTURE.md"):  # the book's pages include ../NAME
        shutil.copy2(ROOT / name, source.parent / name)
    (source / "notebooks").symlink_to(lab.root / "notebooks")
    html = source.parent / "html"
    env = {**os.environ, "COURSE_FAST": "1", "OMP_NUM_THREADS": "1", "COURSE_BOOK_FROM_IPYNB": "1"}
    env["COURSE_BOOK_BUILD"] = str(source.parent / "build")
    env["COURSE_FIGURES"] = str(lab.figures)  # never the tracked figures/
    env.pop("MPLBACKEND", None)
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(source), str(html)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return html


@pytest.fixture(scope="module")
def site(book):
    """The book served over HTTP on a free local port."""
    handler = functools.partial(QuietHandler, directory=str(book))
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A page left before its last request was answered is no error of the book."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _pages(book: Path) -> list[str]:
    """The landing page, the notebooks in order, then the library's pages."""
    notebooks = sorted(str(p.relative_to(book)) for p in (book / "notebooks").glob("*.html"))
    return ["index.html", *notebooks, "ARCHITECTURE.html"]


def test_the_book_has_every_notebook_in_order(book):
    names = [Path(p).stem for p in _pages(book)[1:-1]]
    expected = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.py"))
    assert names == expected
    index = (book / "index.html").read_text()
    positions = [index.find(f"notebooks/{name}.html") for name in expected]
    assert -1 not in positions and positions == sorted(positions), "toctree order"


def test_every_page_renders_cleanly(page, book, site, artifacts):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    problems = []
    for name in _pages(book):
        url = urljoin(site, name)
        response = page.goto(url)
        assert response is not None and response.ok, f"{name}: {response and response.status}"
        if page.locator(".math").count():  # Sphinx loads MathJax only on pages with formulas
            try:
                page.wait_for_function(_TYPESET, timeout=60_000)
            except PlaywrightTimeout:
                problems.append(f"{name}: MathJax did not typeset the page within 60 s")
        page.wait_for_load_state("networkidle")  # fonts still loading would be cut off
        facts = page.evaluate(_PAGE_FACTS)
        if "$$" in facts["text"] or "\\[" in facts["text"]:
            problems.append(f"{name}: raw math left after typesetting")
        problems += [f"{name}: image {src} did not load" for src in facts["brokenImages"]]
        for href in facts["links"]:
            target = urlparse(urljoin(url, href))
            if target.netloc != urlparse(site).netloc or target.scheme not in ("http", "https"):
                continue
            path = book / unquote(target.path).lstrip("/")
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                problems.append(f"{name}: broken link {href}")
            elif target.fragment and path == book / name and target.fragment not in facts["ids"]:
                problems.append(f"{name}: broken anchor {href}")
        if name in ("index.html", "notebooks/02_vp_sde.html"):
            page.screenshot(path=str(artifacts / f"book_{Path(name).stem}.png"))
    assert problems == []
    assert page.console.errors == []

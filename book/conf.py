"""Sphinx + myst-nb configuration of the course book (``make book``).

The notebooks are executed once per mode and cached (jupyter-cache, keyed by their code), so a
rebuild after a text edit does not retrain; fast-mode (CI) and full-mode outputs have separate
caches. Everything the pages need is local: MathJax comes from the ``jupyter-server-mathjax``
package, so the book reads offline. Widgets are shown as their current figure (the HTML fallback
the course's widgets carry), beside the notebooks' static figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupyter_server_mathjax

from course_lib import config

BOOK = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("COURSE_BOOK_BUILD", BOOK.parent / "build" / "book"))
MODE = "fast" if config.FAST else "full"

project = "Continuous-time diffusion policies: a course companion"
author = "course_lib contributors"
extensions = ["myst_nb"]
root_doc = "index"
#: CI builds from notebooks already executed (and saved) by the browser suite: the .ipynb are the
#: sources then, and only those never run (07 and 09, which have no widgets) are executed.
FROM_IPYNB = bool(os.environ.get("COURSE_BOOK_FROM_IPYNB"))
SKIPPED = "notebooks/*.py" if FROM_IPYNB else "notebooks/*.ipynb"
exclude_patterns = ["conf.py", SKIPPED, "notebooks/.ipynb_checkpoints", "_build", "**/.*"]
suppress_warnings = ["mystnb.unknown_mime_type"]

# The notebooks are jupytext percent files.
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
nb_execution_mode = os.environ.get("COURSE_BOOK_EXECUTE", "force" if FROM_IPYNB else "cache")


def _executed_notebooks(folder: Path) -> list[str]:
    """Names of the notebooks in ``folder`` that already hold an executed cell."""
    import nbformat

    return [
        path.name
        for path in sorted(folder.glob("*.ipynb"))
        if any(
            cell.get("execution_count")
            for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "code"
        )
    ]


nb_execution_excludepatterns = _executed_notebooks(BOOK / "notebooks") if FROM_IPYNB else []
nb_execution_cache_path = str(BUILD / f"cache-{MODE}")
nb_execution_timeout = 600 if config.FAST else 7200
nb_execution_raise_on_error = True
nb_execution_in_temp = False
# A live widget needs a kernel: the book shows each widget's HTML fallback (its current figure).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
# ... so the widget manager's scripts, which myst-nb would load from CDNs (and which fail offline),
# are not loaded either (a page whose notebook left widget state, such as 07's progress bars).
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = "Continuous-time diffusion policies"
html_favicon = "_static/favicon.svg"
html_static_path = ["_static", str(BUILD / "static")]
html_theme_options = {"show_toc_level": 2, "use_download_button": False}
html_last_updated_fmt = None
#: The theme's light/dark switch needs a default mode (without one it logs a console error).
html_context = {"default_mode": "light"}
MATHJAX_DIR = Path(jupyter_server_mathjax.__file__).parent / "static"
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
#: jupyter-server-mathjax ships the "-full" configuration and the STIX-Web fonts only. myst-nb marks
#: notebook pages ``tex2jax_ignore`` (no "$" in outputs taken for math) and the math "process".
mathjax2_config = {
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processClass": "tex2jax_process|mathjax_process|math|output_area",
    },
    "HTML-CSS": {
        "availableFonts": [],
        "preferredFont": None,
        "webFont": "STIX-Web",
        # The width probe's blank font is url('about:blank'), which Chromium logs as a CORS error.
        "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}},
    },
}


#: TeX web fonts that MathJax's hidden MathML copy of each formula (for screen readers) asks for,
#: and the STIX-Web font that stands in for each: jupyter-server-mathjax ships STIX-Web only.
TEX_FONT_STAND_INS = {
    "MathJax_Script-Regular": "Script-Regular",
    "MathJax_Caligraphic-Regular": "Script-Italic",
    "MathJax_Caligraphic-Bold": "Script-BoldItalic",
    "MathJax_AMS-Regular": "DoubleStruck-Regular",
    "MathJax_Fraktur-Regular": "Fraktur-Regular",
    "MathJax_Fraktur-Bold": "Fraktur-Bold",
}


def _copy_mathjax(app) -> None:
    """Put the local MathJax where ``html_static_path`` copies it to ``_static/mathjax``, with
    the stand-ins of ``TEX_FONT_STAND_INS`` (no 404 for a font the page asks for)."""
    import shutil

    target = BUILD / "static" / "mathjax"
    if not target.exists():
        shutil.copytree(MATHJAX_DIR, target)
    fonts = target / "fonts" / "HTML-CSS"
    (fonts / "TeX" / "otf").mkdir(parents=True, exist_ok=True)
    for tex, stix in TEX_FONT_STAND_INS.items():
        shutil.copyfile(
            fonts / "STIX-Web" / "woff" / f"STIXMathJax_{stix}.woff",
            fonts / "TeX" / "otf" / f"{tex}.otf",
        )


def setup(app):
    (BUILD / "static").mkdir(parents=True, exist_ok=True)
    app.connect("builder-inited", _copy_mathjax)

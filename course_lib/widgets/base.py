"""A slider app over a pure plotting function, with callback errors that cannot go unnoticed.

ipywidgets only logs an exception raised inside an ``observe`` callback. ``slider_app`` keeps the
last exception on the returned widget (``app.last_error``) and shows it in the output area, and
``app.run(**values)`` calls the same callback synchronously and re-raises as ``CallbackError``:
tests drive widgets through ``run`` at the slider extremes.

A user action redraws once: controls that depend on others are updated under ``app.hold()``.
"""

from __future__ import annotations

import base64
import html
import io
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.figure import Figure


class CallbackError(RuntimeError):
    """A widget callback raised; the original exception is the ``__cause__``."""


#: Lays the controls out in rows that wrap, so a narrow notebook never clips a slider.
WRAPPING_ROW = {"flex_flow": "row wrap", "align_items": "center"}

#: The busy indicator's text while the figure is redrawn.
BUSY_TEXT = "⏳ drawing…"


class SliderApp(widgets.VBox):
    """Controls above an output area; ``fn(**values)`` draws (returns a Figure or any displayable).

    One user action gives exactly one redraw: ``follow(name, value)``, if given, updates dependent
    controls (options, ranges) while redraws are held, then the figure is drawn once. A busy
    indicator (``app.busy``, CSS class ``course-busy``) is visible while the figure is computed.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        controls: dict[str, widgets.ValueWidget],
        title: str = "",
        follow: Callable[[str, Any], None] | None = None,
    ):
        self.fn = fn
        self.controls = controls
        self.follow = follow
        self.output = widgets.Output()
        self.busy = widgets.HTML("")
        self.busy.add_class("course-busy")
        self.last_error: BaseException | None = None
        self.last_result: Any = None
        self.n_redraws = 0
        self._held = False
        self._title = title
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        row = widgets.HBox([*controls.values(), self.busy], layout=widgets.Layout(**WRAPPING_ROW))
        super().__init__([*header, row, self.output])
        self.add_class("course-slider-app")
        names = {id(control): name for name, control in controls.items()}
        for control in controls.values():
            control.observe(
                lambda change: self._on_change(names[id(change["owner"])], change), names="value"
            )
        self.redraw()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        """The live widget, plus an HTML fallback for pages without a kernel (the book, static
        HTML): the current figure as an embedded PNG and a note that the controls are live only
        in Jupyter. JupyterLab prefers the widget; ``myst-nb`` drops it and shows the fallback."""
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(self.last_result, Figure):
            bundle["text/html"] = static_figure_html(self.last_result, self._title)
        return bundle

    def values(self) -> dict[str, Any]:
        return {name: c.value for name, c in self.controls.items()}

    def run(self, **values: Any) -> Any:
        """Set controls to ``values`` (others unchanged), redraw synchronously, raise on failure."""
        for name in values:
            if name not in self.controls:
                raise KeyError(f"unknown control {name!r}; controls are {sorted(self.controls)}")
        params = {**self.values(), **values}
        try:
            result = self.fn(**params)
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            raise CallbackError(f"{self.fn.__name__}({params}) failed: {exc}") from exc
        finally:
            plt.close("all")
        return result

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Changes made inside do not redraw; one redraw follows when the outermost hold ends."""
        if self._held:
            yield
            return
        self._held = True
        try:
            yield
        finally:
            self._held = False
        self.redraw()

    def _on_change(self, name: str, change: Any) -> None:
        if self._held:
            return
        with self.hold():
            if self.follow is not None:
                self.follow(name, change["new"])

    def redraw(self) -> None:
        """Draw ``fn`` at the current values into the output area (errors shown and kept)."""
        self.busy.value = BUSY_TEXT
        try:
            self.output.clear_output(wait=True)
            with self.output:
                try:
                    self.last_result = self.fn(**self.values())
                    self.last_error = None
                    if self.last_result is not None:
                        display(self.last_result)
                except Exception as exc:  # noqa: BLE001 - shown to the student, kept for tests
                    self.last_error = exc
                    print(traceback.format_exc())
                finally:
                    plt.close("all")
        finally:
            self.n_redraws += 1
            self.busy.value = ""


def static_figure_html(fig: Figure, title: str = "") -> str:
    """A figure as self-contained HTML (an embedded PNG) for a widget shown without a kernel."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    caption = f"{html.escape(title)}: " if title else ""
    return (
        f'<figure class="course-widget-static"><img alt="{html.escape(title or "figure")}" '
        f'src="data:image/png;base64,{data}"/><figcaption><em>{caption}an interactive widget; '
        "run the notebook in JupyterLab to move its controls.</em></figcaption></figure>"
    )


def slider_app(
    fn: Callable[..., Any],
    title: str = "",
    follow: Callable[[str, Any], None] | None = None,
    **controls: widgets.ValueWidget,
) -> SliderApp:
    """Build a ``SliderApp`` over ``fn``; keyword names of ``controls`` are ``fn``'s parameters."""
    return SliderApp(fn, controls, title=title, follow=follow)

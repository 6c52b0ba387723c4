"""A slider app over a pure plotting function, with callback errors that cannot go unnoticed.

ipywidgets only logs an exception raised inside an ``observe`` callback. ``slider_app`` keeps the
last exception on the returned widget (``app.last_error``) and shows it in the output area, and
``app.run(**values)`` calls the same callback synchronously and re-raises as ``CallbackError``:
tests drive widgets through ``run`` at the slider extremes.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display


class CallbackError(RuntimeError):
    """A widget callback raised; the original exception is the ``__cause__``."""


class SliderApp(widgets.VBox):
    """Controls above an output area; ``fn(**values)`` draws (returns a Figure or any displayable)."""

    def __init__(
        self, fn: Callable[..., Any], controls: dict[str, widgets.ValueWidget], title: str = ""
    ):
        self.fn = fn
        self.controls = controls
        self.output = widgets.Output()
        self.last_error: BaseException | None = None
        self.last_result: Any = None
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(header + [widgets.HBox(list(controls.values())), self.output])
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self._on_change()

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

    def _on_change(self, change: Any = None) -> None:
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


def slider_app(
    fn: Callable[..., Any], title: str = "", **controls: widgets.ValueWidget
) -> SliderApp:
    """Build a ``SliderApp`` over ``fn``; keyword names of ``controls`` are ``fn``'s parameters."""
    return SliderApp(fn, controls, title=title)

"""ipywidgets builders. Every widget is a thin wrapper over a pure function that tests call directly."""

from course_lib.widgets.base import CallbackError, slider_app

__all__ = ["CallbackError", "slider_app"]

"""Matplotlib figures for the course, one module per part (calculus, pusht, policy, results)."""

from course_lib.plots.base import save_figure

__all__ = ["save_figure"]

"""course_lib: the library behind the course on continuous-time diffusion policies.

Layers, lowest first: ``sdes`` -> ``solvers`` -> ``nets``/``policy`` -> ``train``/``evaluate``
-> ``plots``/``widgets``. ``course_lib.pusht`` and ``course_lib.data`` hold the environment and
the demonstrations. Heavy modules are imported lazily, so ``import course_lib`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"


def pretrained(name: str = "vp", **kwargs):
    """Load a course checkpoint shipped inside the package (``"vp"``, ``"ve"``, ``"cld"``, ...)."""
    from course_lib import shipped

    return shipped.load(name, **kwargs)

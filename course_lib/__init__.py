"""course_lib: the library behind the course on continuous-time diffusion policies.

Layers, lowest first: ``sdes`` -> ``solvers`` -> ``nets``/``policy`` -> ``train``/``evaluate``
-> ``plots``/``widgets``. ``course_lib.pusht`` and ``course_lib.data`` hold the environment and
the demonstrations. ARCHITECTURE.md at the repository root has the whole table, the registries
(SDEs, solvers, shipped models) and how to add a process or a solver. Heavy modules are imported
lazily, so ``import course_lib`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"


def pretrained(name: str = "vp", **kwargs):
    """Load a course checkpoint shipped inside the package (``"vp"``, ``"ve"``, ``"cld"``, ...)."""
    from course_lib import shipped

    return shipped.load(name, **kwargs)

"""Forward SDEs: drift, diffusion, exact kernels, priors, network parameterisation and losses.

``get(name, **overrides)`` builds one of ``names()``; each class carries its record (label, colour,
solvers, default sampler, stepping variable, see :class:`SDE`), and :func:`register` adds one:

* ``"vp"``      variance preserving, cosine schedule (paper Sec. 2.1) - :mod:`.vp`
* ``"ve"``      variance exploding, the paper's score parameterisation (Sec. 2.2) - :mod:`.ve`
* ``"cld"``     the paper's critically damped Langevin dynamics and sampler (Sec. 2.3) - :mod:`.cld`
* ``"cld-hsm"`` Dockhorn et al.'s CLD with hybrid score matching - :mod:`.cld_hsm`
* ``"ve-edm"``  VE noise levels with Karras et al.'s preconditioning - :mod:`.ve_edm`
* ``"vp-edm"``  the paper's VP process with Karras et al.'s preconditioning - :mod:`.vp_edm`
"""

from __future__ import annotations

import inspect

from course_lib.sdes.base import SDE, STEPPINGS, NetFn, TimeLike
from course_lib.sdes.cld import PaperCLD
from course_lib.sdes.cld_hsm import CLDHSM, HSMPreconditioning
from course_lib.sdes.kernel import IsotropicKernelSDE, PhaseSpaceKernelSDE
from course_lib.sdes.ve import VESDE
from course_lib.sdes.ve_edm import VEEDMSDE, EDMPreconditioning
from course_lib.sdes.vp import VPSDE
from course_lib.sdes.vp_edm import VPEDMSDE

#: The registry: name -> SDE class. Adding a process is one module and one entry here (or a call
#: to :func:`register` from outside the package).
_REGISTRY: dict[str, type[SDE]] = {}


def register(cls: type[SDE]) -> type[SDE]:
    """Add an SDE class to the registry under ``cls.name`` (usable as a class decorator).

    Its record must be complete: a new name, a ``stepping`` of ``STEPPINGS`` and a default sampler
    that is one of its ``solvers``.
    """
    if not (isinstance(cls, type) and issubclass(cls, SDE)):
        raise TypeError(f"register takes an SDE subclass, got {cls!r}")
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"an SDE needs a new, non-empty name; got {cls.name!r}")
    if cls.stepping not in STEPPINGS:
        raise ValueError(f"{cls.name!r}: stepping must be one of {STEPPINGS}, got {cls.stepping!r}")
    if cls.default_sampler[0] not in cls.solvers:
        raise ValueError(
            f"{cls.name!r}: the default solver {cls.default_sampler[0]!r} is not one of its "
            f"solvers {cls.solvers}"
        )
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (extensions and tests that registered it)."""
    _class_of(name)
    del _REGISTRY[name]


for _cls in (VPSDE, VESDE, PaperCLD, CLDHSM, VEEDMSDE, VPEDMSDE):
    register(_cls)

#: The processes of the course (the registry as shipped; :func:`names` includes later additions).
NAMES: tuple[str, ...] = tuple(_REGISTRY)
#: The process of a policy or a command given none: the paper's first, VP.
DEFAULT: str = VPSDE.name


def names() -> tuple[str, ...]:
    """Every registered SDE name, the course's first."""
    return tuple(_REGISTRY)


def sde_class(name: str) -> type[SDE]:
    """The registered class of ``name``: its record (label, colour, solvers, default sampler)."""
    return _class_of(name)


def label(name: str) -> str:
    """Label of ``name`` in tables (its upper-case name when it is not registered)."""
    return _REGISTRY[name].label if name in _REGISTRY else name.upper()


def color(name: str, default: str = "grey") -> str:
    """Colour of ``name`` in figures (``default`` when it is not registered)."""
    return _REGISTRY[name].color if name in _REGISTRY else default


def overrides_of(name: str) -> tuple[str, ...]:
    """The keyword overrides ``get(name, ...)`` accepts."""
    cls = _class_of(name)
    return tuple(inspect.signature(cls.__init__).parameters)[1:]


def _class_of(name: str) -> type[SDE]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown SDE {name!r}; valid names are {names()}")
    return _REGISTRY[name]


def get(name: str, **overrides: float | str) -> SDE:
    """Build the SDE ``name`` with its defaults, changed by ``overrides`` (e.g. ``T=0.99``)."""
    cls = _class_of(name)
    valid = overrides_of(name)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(f"unknown override(s) {unknown} for {name!r}; valid ones are {valid}")
    return cls(**overrides)


__all__ = [
    "CLDHSM",
    "DEFAULT",
    "EDMPreconditioning",
    "HSMPreconditioning",
    "IsotropicKernelSDE",
    "NAMES",
    "NetFn",
    "PaperCLD",
    "PhaseSpaceKernelSDE",
    "SDE",
    "STEPPINGS",
    "TimeLike",
    "VEEDMSDE",
    "VESDE",
    "VPEDMSDE",
    "VPSDE",
    "color",
    "get",
    "label",
    "names",
    "overrides_of",
    "register",
    "sde_class",
    "unregister",
]

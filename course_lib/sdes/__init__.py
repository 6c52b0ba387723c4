"""Forward SDEs: drift, diffusion, exact kernels, priors, network parameterisation and losses.

``get(name, **overrides)`` builds one of ``NAMES``:

* ``"vp"``      variance preserving, cosine schedule (paper Sec. 2.1) - :mod:`.vp`
* ``"ve"``      variance exploding, the paper's score parameterisation (Sec. 2.2) - :mod:`.ve`
* ``"cld"``     the paper's critically damped Langevin dynamics and sampler (Sec. 2.3) - :mod:`.cld`
* ``"cld-hsm"`` Dockhorn et al.'s CLD with hybrid score matching - :mod:`.cld_hsm`
* ``"ve-edm"``  VE noise levels with Karras et al.'s preconditioning - :mod:`.ve_edm`
"""

from __future__ import annotations

import inspect

from course_lib.sdes.base import SDE, NetFn, TimeLike
from course_lib.sdes.cld import PaperCLD
from course_lib.sdes.cld_hsm import CLDHSM
from course_lib.sdes.kernel import IsotropicKernelSDE
from course_lib.sdes.ve import VESDE
from course_lib.sdes.ve_edm import VEEDMSDE
from course_lib.sdes.vp import VPSDE

NAMES: tuple[str, ...] = ("vp", "ve", "cld", "cld-hsm", "ve-edm")

_CLASSES: dict[str, type[SDE]] = {
    "vp": VPSDE,
    "ve": VESDE,
    "cld": PaperCLD,
    "cld-hsm": CLDHSM,
    "ve-edm": VEEDMSDE,
}


def overrides_of(name: str) -> tuple[str, ...]:
    """The keyword overrides ``get(name, ...)`` accepts."""
    cls = _class_of(name)
    return tuple(inspect.signature(cls.__init__).parameters)[1:]


def _class_of(name: str) -> type[SDE]:
    if name not in _CLASSES:
        raise ValueError(f"unknown SDE {name!r}; valid names are {NAMES}")
    return _CLASSES[name]


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
    "IsotropicKernelSDE",
    "NAMES",
    "NetFn",
    "PaperCLD",
    "SDE",
    "TimeLike",
    "VEEDMSDE",
    "VESDE",
    "VPSDE",
    "get",
    "overrides_of",
]

"""The shipped models: the checkpoints inside the package, ``course_lib/pretrained/<name>.pt``.

Each file is a policy checkpoint (:mod:`course_lib.checkpoints` holds the file format) trained
with the course recipe; its metadata records the producing command and, once evaluated, the
table row it scored. ``course_lib.pretrained(name)`` loads one. This module is named ``shipped``,
not ``pretrained``: a submodule ``course_lib.pretrained`` would replace the function
``course_lib.pretrained`` on the package.
"""

from __future__ import annotations

from pathlib import Path

import torch

from course_lib import sdes
from course_lib.policy import DiffusionPolicy

#: Where the shipped checkpoints live (packaged as data, see pyproject.toml).
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def path_of(name: str) -> Path:
    """The file of the shipped model ``name`` (it need not exist yet: ``reproduce --ship``)."""
    return PRETRAINED_DIR / f"{name}.pt"


def names() -> list[str]:
    """Names of the checkpoints shipped inside the package, in the SDE registry's order."""
    order = {name: i for i, name in enumerate(sdes.names())}
    found = [p.stem for p in PRETRAINED_DIR.glob("*.pt")]
    return sorted(found, key=lambda name: (order.get(name, len(order)), name))


def load(name: str, device: str | torch.device = "auto") -> DiffusionPolicy:
    """Load ``course_lib/pretrained/<name>.pt`` (its metadata records the producing command).

    Only the shipped names are accepted (no paths: ``"../x"`` is refused, not resolved).
    """
    shipped = names()
    if not isinstance(name, str) or name not in shipped:
        raise ValueError(f"no shipped checkpoint {name!r}; available: {shipped}")
    return DiffusionPolicy.load(path_of(name), device=device)

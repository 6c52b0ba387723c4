"""The result type shared by every derivation, the symbols they use, and a zero test.

Every derivation in :mod:`course_lib.symbolic` returns a :class:`Derivation`: the expressions it
produced (in the symbols below, so that tests can ``lambdify`` them), a one-line statement of
what was shown, and ``ok``, the verdict sympy reached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy as sp

# Time, space and integration variables.
t = sp.Symbol("t", nonnegative=True)
r = sp.Symbol("r", nonnegative=True)  #: integration variable over [0, t]
tau = sp.Symbol("tau", nonnegative=True)  #: reversed time tau = T - t
T = sp.Symbol("T", positive=True)
h = sp.Symbol("h", positive=True)  #: a step size
x, x0 = sp.symbols("x x_0", real=True)

# Schedule parameters.
s = sp.Symbol("s", positive=True)  #: cosine-schedule offset (0.008)
sigma_min, sigma_max = sp.symbols("sigma_min sigma_max", positive=True)
gamma = sp.Symbol("gamma", positive=True)  #: the paper's CLD friction
mass, beta_cld = sp.symbols("M beta", positive=True)  #: Dockhorn et al.'s CLD mass and time scale
v0_scale = sp.Symbol("gamma_0", nonnegative=True)  #: v_0 ~ N(0, gamma_0 M) in cld-hsm
data_var = sp.Symbol("s_0^2", positive=True)  #: variance of Gaussian toy data


@dataclass(frozen=True)
class Derivation:
    """One derivation or check: ``exprs`` holds its results, ``ok`` whether sympy proved it."""

    name: str
    statement: str
    ok: bool
    exprs: dict[str, sp.Basic] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok

    def function(self, key: str, args: Sequence[sp.Symbol]) -> Callable:
        """``exprs[key]`` as a numpy function of ``args`` (for comparisons with the torch code)."""
        if key not in self.exprs:
            raise KeyError(f"{self.name} has no expression {key!r}; it has {sorted(self.exprs)}")
        return sp.lambdify(list(args), self.exprs[key], modules="numpy")


def vanishes(expr: sp.Basic) -> bool:
    """True when sympy can simplify ``expr`` (a scalar or a matrix) to exactly zero."""
    if isinstance(expr, sp.MatrixBase):
        return all(vanishes(entry) for entry in expr)
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    attempts = (
        sp.expand,
        sp.simplify,
        lambda e: sp.simplify(sp.expand(sp.powsimp(e))),
        lambda e: sp.simplify(e.rewrite(sp.exp)),
    )
    for attempt in attempts:
        expr = attempt(expr)
        if expr == 0:
            return True
    return False


def equal(a: sp.Basic, b: sp.Basic) -> bool:
    """True when sympy proves ``a == b`` (``a - b`` vanishes)."""
    return vanishes(a - b)


def nonzero_at(expr: sp.Basic, point: dict[sp.Symbol, sp.Basic]) -> bool:
    """True when ``expr`` evaluated exactly at ``point`` is provably nonzero (a counterexample)."""
    value = sp.simplify(expr.subs(point))
    return value.is_zero is False

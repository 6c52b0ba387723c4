"""Exercises of notebook 04: the paper's CLD in phase space (e^{At}, sigma_CLD^2, its limits)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from course_lib import sdes
from course_lib.exercises import code_check as cc
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, SymbolicExercise
from course_lib.exercises.registry import register
from course_lib.exercises.sympy_compare import Domain

gamma = sp.Symbol("gamma", positive=True)
t = sp.Symbol("t", nonnegative=True)
_DOMAIN = Domain((gamma, t), {"gamma": (0.5, 5.0), "t": (0.02, 4.0)}, main="t")
_decay = sp.exp(-gamma * t)

expm_12 = SymbolicExercise(
    id="04.cld-expm-entry",
    title="The top-right entry of e^{At}",
    statement=(
        "For A = [[0, 1], [0, -gamma]], give the entry (1, 2) of e^{At} (how far a unit initial "
        "momentum moves the position by time t) as an expression in `gamma` (positive) and `t`."
    ),
    hints=(
        "p_t = e^{-gamma t} p_0 and a_t = a_0 + int_0^t p_r dr.",
        "`(sp.Matrix([[0, 1], [0, -gamma]]) * t).exp()`.",
    ),
    domain=_DOMAIN,
    reference=lambda: (1 - _decay) / gamma,
    equivalents=(
        sp.integrate(sp.exp(-gamma * sp.Symbol("r")), (sp.Symbol("r"), 0, t)),
        2 * sp.exp(-gamma * t / 2) * sp.sinh(gamma * t / 2) / gamma,
        1 / gamma - _decay / gamma,
    ),
    mistakes=(
        Mistake(1 - _decay, "Integrate e^{-gamma r}: the integral brings 1 / gamma."),
        Mistake((_decay - 1) / gamma, "A positive momentum moves the position forward."),
        Mistake(
            t * _decay,
            "t e^{-gamma t} belongs to a double eigenvalue (Dockhorn's CLD), not to this A.",
        ),
    ),
)

sigma2 = SymbolicExercise(
    id="04.cld-sigma2",
    title="The position variance sigma_CLD^2(t)",
    statement=(
        "With p_0 ~ N(0, 1), the position a_t given a_0 has variance Sigma_11(t) + (e^{At})_12^2. "
        "Give sigma_CLD^2(t) as an expression in `gamma` and `t`."
    ),
    hints=(
        "Sigma_11 = 2t/gamma - (3 - 4 e^{-gamma t} + e^{-2 gamma t}) / gamma^2.",
        "Add ((1 - e^{-gamma t}) / gamma)^2 and simplify.",
    ),
    domain=_DOMAIN,
    reference=lambda: 2 / gamma**2 * (gamma * t + _decay - 1),
    equivalents=(
        2 * t / gamma - (3 - 4 * _decay + _decay**2) / gamma**2 + ((1 - _decay) / gamma) ** 2,
        (2 * gamma * t + 2 * _decay - 2) / gamma**2,
    ),
    mistakes=(
        Mistake(1 / gamma**2 * (gamma * t + _decay - 1), "Check the factor 2 in front."),
        Mistake(
            2 * t / gamma - (3 - 4 * _decay + _decay**2) / gamma**2,
            "That is Sigma_11 alone: the random initial momentum adds (e^{At})_12^2.",
        ),
        Mistake(2 * t / gamma, "2t/gamma is only the large-t behaviour."),
        Mistake(2 / gamma**2 * (gamma * t - _decay + 1), "sigma_CLD^2(0) must be 0."),
    ),
)

small_t = SymbolicExercise(
    id="04.cld-small-t",
    title="The ballistic regime",
    statement=(
        "Give the leading term of sigma_CLD^2(t) as t -> 0 (the first nonzero term of its Taylor "
        "series), an expression in `gamma` and `t`."
    ),
    hints=(
        "e^{-gamma t} = 1 - gamma t + gamma^2 t^2 / 2 - ...",
        "`sp.series(sigma2, t, 0, 3)`.",
    ),
    domain=_DOMAIN,
    reference=lambda: t**2,
    equivalents=(sp.Rational(2, 1) / gamma**2 * (gamma * t) ** 2 / 2, (t * gamma) ** 2 / gamma**2),
    mistakes=(
        Mistake(
            2 * t / gamma,
            "2t/gamma is the large-t (diffusive) regime; near 0 the motion is ballistic.",
        ),
        Mistake(
            t, "With a unit initial momentum the position moves like t, so its variance like t^2."
        ),
        Mistake(gamma * t**2, "Expand e^{-gamma t} to second order and collect the t^2 term."),
        Mistake(2 * t**2, "Check the factor: 2/gamma^2 * gamma^2 t^2 / 2."),
    ),
)

cov_limit = SymbolicExercise(
    id="04.cld-covariance-limit",
    title="The correlation the prior ignores",
    statement=(
        "For data a_0 ~ N(0, s_0^2) and p_0 ~ N(0, 1), Cov(a_t, p_t) = (1 - e^{-gamma t}) / gamma. "
        "What is its limit as t -> oo? An expression in `gamma`."
    ),
    hints=("e^{-gamma t} -> 0.",),
    domain=Domain((gamma,), {"gamma": (0.5, 5.0)}),
    reference=lambda: 1 / gamma,
    equivalents=(gamma**-1, sp.limit((1 - _decay) / gamma, t, sp.oo)),
    mistakes=(
        Mistake(sp.Integer(0), "The correlation does not vanish: that is the point."),
        Mistake(
            1 / gamma**2, "Only e^{-gamma t} goes away as t grows; the prefactor stays as it is."
        ),
        Mistake(-1 / gamma, "Momentum and position are positively correlated."),
    ),
)


def cld_expm(gamma, t):
    """e^{At} = [[1, (1 - e^{-gamma t}) / gamma], [0, e^{-gamma t}]] as a 2 x 2 array."""
    decay = np.exp(-gamma * t)
    return np.array([[1.0, (1.0 - decay) / gamma], [0.0, decay]])


@cc.tester
def _test_cld_expm(fn) -> None:
    """Against ``PaperCLD.expm_A`` for several gamma and t; a transposed matrix is named."""
    for gamma_value, time in ((3.0, 0.5), (1.0, 2.0), (0.5, 0.1)):
        want = sdes.get("cld", gamma=gamma_value).expm_A(time).numpy()
        got = cc.array(cc.run(fn, gamma_value, time), (2, 2))
        if cc.mismatch(got, want, "") is None:
            continue
        if cc.mismatch(got.T, want, "") is None:
            raise cc.Failed(
                f"at gamma = {gamma_value}, t = {time} your matrix is the transpose of e^{{At}}."
            )
        for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):
            cc.fail_if(
                cc.mismatch(
                    got[i : i + 1, j],
                    want[i : i + 1, j],
                    f"At gamma = {gamma_value}, t = {time} your entry ({i + 1}, {j + 1})",
                )
            )


expm_code = CodeExercise(
    id="04.cld-expm-code",
    title="e^{At} in code",
    statement=(
        "Write `cld_expm(gamma, t)` returning e^{At} for A = [[0, 1], [0, -gamma]] as a 2 x 2 numpy "
        "array (gamma, t floats)."
    ),
    hints=("Use the closed form of section 1, or `scipy.linalg.expm` to compare with.",),
    reference=cld_expm,
    tester=_test_cld_expm,
    success="your matrix matches `sdes.get('cld').expm_A`",
    mistakes=(
        Mistake(lambda g, t: cld_expm(g, t).T, "", expect="transpose"),
        Mistake(
            lambda g, t: np.array([[1.0, 1 - np.exp(-g * t)], [0.0, np.exp(-g * t)]]),
            "",
            expect="(1, 2)",
        ),
        Mistake(lambda g, t: np.eye(2), "", expect="entry"),
    ),
)

register(expm_12, sigma2, small_t, cov_limit, expm_code)

"""Exercises of notebook 01: quadratic variation, Ito's lemma, the Ornstein-Uhlenbeck process."""

from __future__ import annotations

import numpy as np
import sympy as sp

from course_lib.exercises import code_check as cc
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, SymbolicExercise
from course_lib.exercises.registry import register
from course_lib.exercises.sympy_compare import Domain

t = sp.Symbol("t", positive=True)
n_steps = sp.Symbol("K", positive=True, integer=True)
w = sp.Symbol("W", real=True)
theta, sigma = sp.symbols("theta sigma", positive=True)
x0 = sp.Symbol("x_0", real=True)
time = sp.Symbol("t", nonnegative=True)

quadratic_variation = SymbolicExercise(
    id="01.quadratic-variation-variance",
    title="How fast the quadratic variation stops being random",
    statement=(
        "Split [0, t] into K steps of size t/K. Compute the variance of the sum of the K squared "
        "Brownian increments, sum_k (dW_k)^2, as an expression in `t` (positive) and `K` (a "
        "positive integer)."
    ),
    hints=(
        "The increments are independent, so the variances of their squares add up.",
        "Var[(dW)^2] = 2 Delta_t^2 for dW ~ N(0, Delta_t) (the cell above).",
    ),
    domain=Domain((t, n_steps), {"t": (0.1, 3.0), "K": (1, 50)}, main="t"),
    reference=lambda: 2 * t**2 / n_steps,
    equivalents=(n_steps * 2 * (t / n_steps) ** 2, 2 * t * (t / n_steps)),
    mistakes=(
        Mistake(2 * t**2 / n_steps**2, "There are K increments: add K variances."),
        Mistake(t**2 / n_steps, "Var[(dW)^2] = E[dW^4] - (E[dW^2])^2 = 3 Delta_t^2 - Delta_t^2."),
        Mistake(
            2 * t / n_steps, "Each squared increment has variance 2 (t/K)^2: t enters squared."
        ),
        Mistake(2 * t**2, "The variance must vanish as the steps get finer (K -> oo)."),
    ),
)

ito_w_cubed = SymbolicExercise(
    id="01.ito-w-cubed",
    title="Ito's lemma on W^3",
    statement=(
        "With Ito's lemma, find the dt coefficient (the drift) of d(W_t^3), an expression in `W` "
        "(real)."
    ),
    hints=(
        "phi = W^3: phi_W = 3 W^2, phi_WW = 6 W; for dW the drift is 0 and the diffusion 1.",
        "`symbolic.ito_lemma(W**3, W, t, 0, 1).drift` computes it.",
    ),
    domain=Domain((w,), {}),
    reference=lambda: 3 * w,
    equivalents=(sp.Rational(1, 2) * 6 * w, sp.diff(w**3, w, 2) / 2),
    mistakes=(
        Mistake(6 * w, "Ito's correction is 1/2 phi_WW d[W], with a factor 1/2."),
        Mistake(
            3 * w**2, "3 W^2 multiplies dW (the diffusion); the question asks for the dt term."
        ),
        Mistake(-3 * w, "The correction 1/2 phi_WW has the sign of phi_WW = 6 W."),
    ),
)

ou_second_moment = SymbolicExercise(
    id="01.ou-second-moment",
    title="The second moment of the OU process",
    statement=(
        "For dX = -theta X dt + sigma dW with X_0 = x_0 (theta, sigma > 0, x_0 real, t >= 0), "
        "give E[X_t^2] as an expression in `theta`, `sigma`, `x_0` and `t`."
    ),
    hints=(
        "E[X^2] = Var X + (E X)^2, with the mean and the variance derived above.",
        "Or solve q' = -2 theta q + sigma^2 with q(0) = x_0^2 by `sp.dsolve`.",
    ),
    domain=Domain((theta, sigma, x0, time), {"t": (0.05, 3.0)}, main="t"),
    reference=lambda: (
        x0**2 * sp.exp(-2 * theta * time) + sigma**2 / (2 * theta) * (1 - sp.exp(-2 * theta * time))
    ),
    equivalents=(
        sigma**2 / (2 * theta) + (x0**2 - sigma**2 / (2 * theta)) * sp.exp(-2 * theta * time),
        (x0 * sp.exp(-theta * time)) ** 2
        + sigma**2 * sp.exp(-theta * time) * sp.sinh(theta * time) / theta,
    ),
    mistakes=(
        Mistake(
            sigma**2 / (2 * theta) * (1 - sp.exp(-2 * theta * time)),
            "That is the variance: add the square of the mean.",
        ),
        Mistake(
            x0**2 * sp.exp(-theta * time)
            + sigma**2 / (2 * theta) * (1 - sp.exp(-2 * theta * time)),
            "Square the whole mean x_0 e^{-theta t}, exponential included.",
        ),
        Mistake(
            x0**2 * sp.exp(-2 * theta * time) + sigma**2 / theta * (1 - sp.exp(-2 * theta * time)),
            "The stationary variance is sigma^2 / (2 theta).",
        ),
        Mistake(
            x0**2 * sp.exp(-2 * theta * time**2)
            + sigma**2 / (2 * theta) * (1 - sp.exp(-2 * theta * time**2)),
            "The exponents are linear in t.",
        ),
    ),
)


def ou_em_step(x, dt, theta, sigma, z):
    """One Euler-Maruyama step of the OU process: x + (-theta x) dt + sigma sqrt(dt) z."""
    return x - theta * x * dt + sigma * np.sqrt(dt) * z


@cc.tester
def _test_ou_em_step(fn) -> None:
    """Drift with z = 0, then the scaling of the noise with dt, then the whole step."""
    rng = np.random.default_rng(0)
    x, z, zeros = rng.normal(size=5), rng.normal(size=5), np.zeros(5)
    drift = cc.array(cc.run(fn, x.copy(), 0.01, 1.5, 0.7, zeros), x.shape) - x
    cc.fail_if(cc.mismatch(drift, -1.5 * x * 0.01, "With z = 0, your step minus x (drift * dt)"))
    steps = np.array([1e-4, 1e-3, 1e-2])
    noise = [cc.array(cc.run(fn, np.zeros(1), h, 1.5, 0.7, np.ones(1)), (1,))[0] for h in steps]
    slope = np.polyfit(np.log(steps), np.log(np.abs(noise) + 1e-300), 1)[0]
    if abs(slope - 0.5) > 0.1:
        raise cc.Failed(
            f"With x = 0 your noise term scales like dt^{slope:.2f}; a Brownian increment over "
            "dt has standard deviation sqrt(dt), so it should scale like dt^0.5."
        )
    got = cc.array(cc.run(fn, x.copy(), 0.01, 1.5, 0.7, z.copy()), x.shape)
    cc.fail_if(cc.mismatch(got, ou_em_step(x, 0.01, 1.5, 0.7, z), "Your step"))


ou_step = CodeExercise(
    id="01.ou-em-step",
    title="An Euler-Maruyama step of the OU process",
    statement=(
        "Write `ou_em_step(x, dt, theta, sigma, z)` returning the Euler-Maruyama update of "
        "dX = -theta X dt + sigma dW over a step dt, where z ~ N(0, 1) has x's shape (numpy)."
    ),
    hints=("X + drift * dt + diffusion * (a Brownian increment over dt), and dW = sqrt(dt) z.",),
    reference=ou_em_step,
    tester=_test_ou_em_step,
    success="your step matches x - theta x dt + sigma sqrt(dt) z",
    mistakes=(
        Mistake(lambda x, dt, th, s, z: x - th * x * dt + s * dt * z, "", expect="sqrt(dt)"),
        Mistake(lambda x, dt, th, s, z: x + th * x * dt + s * np.sqrt(dt) * z, "", expect="sign"),
    ),
)

register(quadratic_variation, ito_w_cubed, ou_second_moment, ou_step)

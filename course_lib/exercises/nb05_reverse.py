"""Exercises of notebook 05: the probability-flow velocity, reverse drift, Heun and EM steps."""

from __future__ import annotations

import sympy as sp
import torch

from course_lib import solvers
from course_lib.exercises import code_check as cc
from course_lib.exercises import vp_toy as toy_vp
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, SymbolicExercise
from course_lib.exercises.registry import register
from course_lib.exercises.sympy_compare import Domain

beta, k, g, var = sp.symbols("beta k g v", positive=True)
x, score, mu = sp.symbols("x score mu", real=True)

pf_velocity = SymbolicExercise(
    id="05.vp-pf-velocity",
    title="The probability-flow velocity of the VP SDE",
    statement=(
        "For the VP SDE (f = -beta x / 2, g^2 = beta) write the probability-flow velocity "
        "dx/dt = f - g^2 score / 2 as an expression in `beta` (positive), `x` and `score` (real)."
    ),
    hints=("Continuity with velocity f - 1/2 g^2 grad log p equals Fokker-Planck: keep the 1/2.",),
    domain=Domain((beta, x, score), {"beta": (0.1, 20.0)}),
    reference=lambda: -beta * x / 2 - beta * score / 2,
    equivalents=(-beta * (x + score) / 2, -(beta / 2) * x - sp.Rational(1, 2) * beta * score),
    mistakes=(
        Mistake(
            -beta * x / 2 - beta * score,
            "That is the reverse SDE's drift: without its noise the score term must be halved.",
        ),
        Mistake(
            -beta * x / 2 + beta * score / 2, "f - 1/2 g^2 score: mind the sign of the score term."
        ),
        Mistake(beta * x / 2 + beta * score / 2, "Write the velocity in forward time t."),
    ),
)

gaussian_score = SymbolicExercise(
    id="05.gaussian-score",
    title="The score of a Gaussian",
    statement=(
        "Give grad_x log N(x; mu, v) as an expression in `x`, `mu` (real) and `v` (the variance, "
        "positive)."
    ),
    hints=("log N = -(x - mu)^2 / (2 v) - log(2 pi v) / 2; differentiate in x.",),
    domain=Domain((x, mu, var), {}),
    reference=lambda: -(x - mu) / var,
    equivalents=(
        (mu - x) / var,
        sp.diff(-((x - mu) ** 2) / (2 * var) - sp.log(2 * sp.pi * var) / 2, x),
    ),
    mistakes=(
        Mistake(-(x - mu) / sp.sqrt(var), "v is the variance, not the standard deviation."),
        Mistake((x - mu) / var, "The score points towards the mean."),
        Mistake(
            -((x - mu) ** 2) / (2 * var),
            "That is the log-density (up to a constant); take its gradient.",
        ),
    ),
)

reverse_drift = SymbolicExercise(
    id="05.reverse-drift",
    title="Anderson's reverse drift",
    statement=(
        "For dx = -k x dt + g dW (k, g positive) the reverse SDE in reversed time tau = T - t is "
        "dx = b dtau + g dW. Give b as an expression in `k`, `g`, `x` and `score` (the score of "
        "p_{T - tau} at x)."
    ),
    hints=("b = -f + g^2 score, with f = -k x the forward drift.",),
    domain=Domain((k, g, x, score), {}),
    reference=lambda: k * x + g**2 * score,
    equivalents=(-(-k * x) + g * g * score, (k * x * 2 + 2 * g**2 * score) / 2),
    mistakes=(
        Mistake(
            k * x + g**2 * score / 2,
            "g^2 score / 2 belongs to the probability-flow ODE; the "
            "reverse SDE has the full g^2 score.",
        ),
        Mistake(-k * x + g**2 * score, "In reversed time the forward drift changes sign."),
        Mistake(
            k * x - g**2 * score, "The score term pulls the sample towards the data: +g^2 score."
        ),
    ),
)


def heun_step(velocity, x, t, t_next):
    """Heun: x~ = x + F(x, t) dt, x' = x + dt/2 (F(x, t) + F(x~, t')), dt = t' - t."""
    dt = t_next - t
    v0 = velocity(x, t)
    return x + 0.5 * dt * (v0 + velocity(x + dt * v0, t_next))


@cc.tester
def _test_heun_step(fn) -> None:
    """One step against the library's Heun step, then the measured order of convergence."""
    x = torch.linspace(-2.0, 2.0, 9, dtype=torch.float64)[:, None]
    for t, t_next in ((0.5, 0.4), (0.9, 0.7)):
        got = cc.array(cc.run(fn, toy_vp.velocity, x.clone(), t, t_next), x.shape)
        want = solvers.ode_heun_step(_VP, toy_vp.SCORE, x, t, t_next).numpy()
        if cc.mismatch(got, want, "") is None:
            continue
        euler = solvers.ode_euler_step(_VP, toy_vp.SCORE, x, t, t_next).numpy()
        same_as_euler = (
            " Your step equals Euler's: the corrector is missing."
            if cc.mismatch(got, euler, "") is None
            else ""
        )
        measured = toy_vp.ode_order(lambda xs, a, b: cc.run(fn, toy_vp.velocity, xs, a, b))
        problem = cc.order_problem(measured, 2.0, "your step") or cc.mismatch(
            got, want, "Your step"
        )
        raise cc.Failed(f"{problem}{same_as_euler}")


heun = CodeExercise(
    id="05.heun-step",
    title="Heun's predictor-corrector",
    statement=(
        "Write `heun_step(velocity, x, t, t_next)` returning one Heun step of dx/dt = velocity(x, t) "
        "from t to t_next (t_next < t when sampling). It must be second order."
    ),
    hints=(
        "Predict with Euler, then average the velocity at the start and at the predicted point "
        "(at time t_next).",
    ),
    reference=heun_step,
    tester=_test_heun_step,
    success="your step matches `solvers.ode_heun_step`, second order",
    mistakes=(
        Mistake(lambda v, x, t, tn: x + (tn - t) * v(x, t), "", expect="order"),
        Mistake(
            lambda v, x, t, tn: x + 0.5 * (tn - t) * (v(x, t) + v(x + (tn - t) * v(x, t), t)),
            "",
            expect="order",
        ),
        Mistake(
            lambda v, x, t, tn: x + (tn - t) * (v(x, t) + v(x + (tn - t) * v(x, t), tn)),
            "",
            expect="order",
        ),
    ),
)


_VP = toy_vp.VP


def em_step(x, t, t_next, score, z):
    """Reverse-SDE Euler-Maruyama for VP: x + (f - g^2 s) dt + g sqrt(|dt|) z, dt = t' - t < 0."""
    dt = t_next - t
    b = float(_VP.beta(t))
    return x + (-0.5 * b * x - b * score) * dt + (b * abs(dt)) ** 0.5 * z


def _em_coefficients(fn):
    """(a, b) of x' = a x + b z for the student's step with the toy's exact score -x / v(t)."""
    one, zero = (torch.full((1, 1), v, dtype=torch.float64) for v in (1.0, 0.0))

    def coefficients(t: float, t_next: float) -> tuple[float, float]:
        score = -one / toy_vp.variance(t)
        a = cc.array(cc.run(fn, one, t, t_next, score, zero), (1, 1))[0, 0]
        b = cc.array(cc.run(fn, zero, t, t_next, zero, one), (1, 1))[0, 0]
        return float(a), float(b)

    return coefficients


@cc.tester
def _test_em_step(fn) -> None:
    """Against ``solvers.em_step``; on a mismatch, the measured weak order and which term is off."""
    gen = torch.Generator().manual_seed(0)
    x, s, z = (torch.randn(8, 2, generator=gen, dtype=torch.float64) for _ in range(3))
    t, t_next = 0.5, 0.48
    got = cc.array(cc.run(fn, x.clone(), t, t_next, s.clone(), z.clone()), x.shape)
    want = solvers.em_step(_VP, lambda *_: s, x, t, t_next, z).numpy()
    if cc.mismatch(got, want, "") is None:
        return
    dt, b = t_next - t, float(_VP.beta(t))
    zeros, ones = torch.zeros(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    terms = (
        ("score", (zeros, t, t_next, ones, zeros), -b * dt),
        ("noise z", (zeros, t, t_next, zeros, ones), (b * abs(dt)) ** 0.5),
        ("state x", (ones, t, t_next, zeros, zeros), 1 - 0.5 * b * dt),
    )
    findings = [
        cc.order_problem(toy_vp.weak_order(_em_coefficients(fn)), 1.0, "the variance (weak order)")
    ]
    for name, args, expected in terms:
        coef = float(cc.array(cc.run(fn, *args), (1, 1))[0, 0])
        problem = cc.coefficient_problem(coef, expected, f"The coefficient of the {name}")
        if problem and name == "score" and abs(coef / expected - 0.5) < 1e-6:
            problem += " Half of g^2 is the probability-flow ODE; the reverse SDE has all of it."
        if problem:
            findings.append(problem)
            break
    raise cc.Failed(" ".join(f for f in findings if f) or cc.mismatch(got, want, "Your step"))


em = CodeExercise(
    id="05.em-step",
    title="An Euler-Maruyama step of the reverse VP SDE",
    statement=(
        "Write `em_step(x, t, t_next, score, z)` for the course's VP SDE `vp = sdes.get('vp')`: one "
        "Euler-Maruyama step of the reverse SDE from t to t_next < t, given the score at (x, t) and "
        "standard normal noise z (tensors of x's shape). `vp.beta(t)` gives beta(t)."
    ),
    hints=(
        "x + [f(x, t) - g(t)^2 score] dt + g(t) sqrt(|dt|) z with dt = t_next - t < 0, "
        "f = -beta x / 2 and g^2 = beta.",
    ),
    reference=em_step,
    tester=_test_em_step,
    success="your step matches `solvers.em_step`",
    mistakes=(
        Mistake(
            lambda x, t, tn, s, z: (
                x
                + (-0.5 * float(_VP.beta(t)) * (x + s)) * (tn - t)
                + (float(_VP.beta(t)) * abs(tn - t)) ** 0.5 * z
            ),
            "",
            expect="probability-flow",
        ),
        Mistake(
            lambda x, t, tn, s, z: (
                x
                + (-0.5 * float(_VP.beta(t)) * x - float(_VP.beta(t)) * s) * (tn - t)
                + float(_VP.beta(t)) ** 0.5 * abs(tn - t) * z
            ),
            "",
            expect="order",
        ),
        Mistake(
            lambda x, t, tn, s, z: (
                x
                + (-0.5 * float(_VP.beta(t)) * x + float(_VP.beta(t)) * s) * (tn - t)
                + (float(_VP.beta(t)) * abs(tn - t)) ** 0.5 * z
            ),
            "",
            expect="sign",
        ),
    ),
)

register(pf_velocity, gaussian_score, reverse_drift, heun, em)

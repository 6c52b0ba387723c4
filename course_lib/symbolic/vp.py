"""The VP SDE (paper Section 2.1 and Appendix B): DDPM limit, kernel, score, loss, cosine schedule.

da = -1/2 beta(t) a dt + sqrt(beta(t)) dW  (Eq. 3),  a_t | a_0 ~ N(sqrt(abar) a_0, (1 - abar) I)
with abar(t) = exp(-int_0^t beta). The schedule is the cosine one of Nichol and Dhariwal:
abar(t) = cos^2(u(t)) / cos^2(u(0)), u(t) = (t + s) / (1 + s) * pi / 2.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from course_lib.symbolic.core import Derivation, equal, h, r, s, t, vanishes, x, x0

beta_fn = sp.Function("beta", positive=True)
#: B(t) = int_0^t beta(r) dr, kept unevaluated for a generic schedule.
integrated_beta = sp.Integral(beta_fn(r), (r, 0, t))


def cosine_u(time: sp.Expr = t) -> sp.Expr:
    """u(t) = (t + s) / (1 + s) * pi / 2 of the cosine schedule."""
    return (time + s) / (1 + s) * sp.pi / 2


def cosine_alpha_bar(time: sp.Expr = t) -> sp.Expr:
    """abar(t) = cos^2(u(t)) / cos^2(u(0)) (Nichol and Dhariwal, 2021)."""
    return sp.cos(cosine_u(time)) ** 2 / sp.cos(cosine_u(0)) ** 2


def _anchor_at_zero(expr: sp.Expr) -> sp.Expr:
    """Replace dsolve's indefinite int beta(t) dt by the antiderivative int_0^t beta(r) dr."""
    return expr.replace(
        lambda e: isinstance(e, sp.Integral) and e.function == beta_fn(t) and e.limits == ((t,),),
        lambda e: integrated_beta,
    )


@cache
def vp_kernel_ito_isometry() -> Derivation:
    """B.0.2: Var = int_0^t e^{-(B(t) - B(r))} beta(r) dr = 1 - e^{-B(t)} for any beta.

    The integrand is d/dr e^{-(B(t) - B(r))}, so the integral telescopes; checked for a generic
    beta and by direct integration for the linear schedule beta_min + (beta_max - beta_min) t.
    """
    big_b = integrated_beta
    antiderivative = sp.exp(-(big_b - big_b.subs(t, r)))
    integrand = antiderivative * beta_fn(r)
    generic = equal(sp.diff(antiderivative, r), integrand) and equal(
        antiderivative.subs(r, t) - antiderivative.subs(r, 0), 1 - sp.exp(-big_b)
    )
    b_min, b_max = sp.symbols("beta_min beta_max", positive=True)
    linear = b_min + (b_max - b_min) * t
    lin_b = sp.integrate(linear.subs(t, r), (r, 0, t))
    lin_var = sp.integrate(sp.exp(-(lin_b - lin_b.subs(t, r))) * linear.subs(t, r), (r, 0, t))
    ok = generic and equal(lin_var, 1 - sp.exp(-lin_b))
    return Derivation(
        "vp_kernel_ito_isometry",
        "VP kernel variance by Ito isometry: int e^{-(B(t)-B(r))} beta(r) dr = 1 - e^{-B(t)}",
        ok,
        {"mean_coef": sp.exp(-big_b / 2), "variance": 1 - sp.exp(-big_b)},
    )


@cache
def vp_kernel_moment_odes() -> Derivation:
    """Mean and variance of the VP kernel from the moment ODEs, solved by sympy's dsolve.

    m' = -beta m / 2 with m(0) = a_0 and v' = -beta v + beta with v(0) = 0 (generic beta) give
    m = a_0 e^{-B/2} and v = 1 - e^{-B}, the paper's kernel (Section 2.1).
    """
    m, v = sp.Function("m"), sp.Function("v")
    c1 = sp.Symbol("C1")
    mean = _anchor_at_zero(sp.dsolve(sp.Eq(m(t).diff(t), -beta_fn(t) * m(t) / 2), m(t)).rhs)
    mean = mean.subs(c1, sp.solve(sp.Eq(mean.subs(t, 0).doit(), x0), c1)[0])
    var = _anchor_at_zero(sp.dsolve(sp.Eq(v(t).diff(t), -beta_fn(t) * v(t) + beta_fn(t)), v(t)).rhs)
    var = var.subs(c1, sp.solve(sp.Eq(var.subs(t, 0).doit(), 0), c1)[0])
    ok = equal(mean, x0 * sp.exp(-integrated_beta / 2)) and equal(var, 1 - sp.exp(-integrated_beta))
    return Derivation(
        "vp_kernel_moment_odes",
        "dsolve of m' = -beta m/2, v' = -beta v + beta gives a0 e^{-B/2} and 1 - e^{-B}",
        ok,
        {"mean": mean, "variance": var},
    )


@cache
def vp_ddpm_limit() -> Derivation:
    """B.0.1: a_{k+1} = sqrt(1 - beta h) a_k + sqrt(beta h) eps_k tends to the VP SDE.

    sqrt(1 - beta h) = 1 - beta h / 2 + O(h^2): the increment has mean -beta a h / 2 + O(h^2)
    and variance beta h, so drift -beta a / 2 and diffusion sqrt(beta). The product
    prod (1 - beta h) over K = t / h steps tends to e^{-beta t} = abar(t) (constant beta).
    """
    b = sp.Symbol("beta", positive=True)
    k = sp.Symbol("K", positive=True, integer=True)
    factor = sp.series(sp.sqrt(1 - b * h), h, 0, 2).removeO()
    increment_mean = (sp.sqrt(1 - b * h) - 1) * x
    drift = sp.limit(increment_mean / h, h, 0)
    diffusion_sq = sp.limit((sp.sqrt(b * h)) ** 2 / h, h, 0)
    abar_limit = sp.limit((1 - b * t / k) ** k, k, sp.oo)
    remainder = sp.series(increment_mean - drift * h, h, 0, 2).removeO()
    ok = (
        equal(factor, 1 - b * h / 2)
        and equal(drift, -b * x / 2)
        and equal(diffusion_sq, b)
        and vanishes(remainder)
        and equal(abar_limit, sp.exp(-b * t))
    )
    return Derivation(
        "vp_ddpm_limit",
        "DDPM step sqrt(1-beta h) a + sqrt(beta h) eps -> da = -beta a/2 dt + sqrt(beta) dW",
        ok,
        {"sqrt_factor": factor, "drift": drift, "diffusion_sq": diffusion_sq, "abar": abar_limit},
    )


@cache
def vp_conditional_score() -> Derivation:
    """B.0.3: grad log p(a_t | a_0) = -(a_t - sqrt(abar) a_0)/(1 - abar) = -eps / sqrt(1 - abar).

    The score is differentiated from the Gaussian log-density, then the reparametrisation
    a_t = sqrt(abar) a_0 + sqrt(1 - abar) eps is substituted.
    """
    abar = sp.Symbol("abar", positive=True)
    eps = sp.Symbol("epsilon", real=True)
    var = 1 - abar
    log_density = -((x - sp.sqrt(abar) * x0) ** 2) / (2 * var) - sp.log(2 * sp.pi * var) / 2
    score = sp.diff(log_density, x)
    in_eps = score.subs(x, sp.sqrt(abar) * x0 + sp.sqrt(var) * eps)
    ok = equal(score, -(x - sp.sqrt(abar) * x0) / var) and equal(in_eps, -eps / sp.sqrt(var))
    return Derivation(
        "vp_conditional_score",
        "VP conditional score = -eps / sqrt(1 - abar) (B.0.3)",
        ok,
        {"score": score, "score_in_eps": sp.simplify(in_eps)},
    )


@cache
def vp_eps_loss_reweighting() -> Derivation:
    """B.0.3: with s = -eps_hat / sqrt(1 - abar), |s - score|^2 = |eps - eps_hat|^2 / (1 - abar).

    So the eps-loss (Eq. 17) is the score-matching loss reweighted by lambda(t) = 1 - abar(t).
    """
    abar = sp.Symbol("abar", positive=True)
    eps, eps_hat = sp.symbols("epsilon epsilon_hat", real=True)
    sd = sp.sqrt(1 - abar)
    score_loss = (-eps_hat / sd - (-eps / sd)) ** 2
    weight = sp.simplify(score_loss / (eps - eps_hat) ** 2)
    ok = equal(weight, 1 / (1 - abar)) and equal((1 - abar) * score_loss, (eps - eps_hat) ** 2)
    return Derivation(
        "vp_eps_loss_reweighting",
        "eps-loss = (1 - abar) x score-matching loss: the weight 1/(1-abar) dropped in Eq. 17",
        ok,
        {"weight": weight},
    )


@cache
def vp_cosine_schedule() -> Derivation:
    """beta(t) = -d/dt log abar(t) = pi/(1 + s) tan(u(t)) for the cosine schedule.

    Also exp(-int_0^t beta) = abar(t), so the kernel of the SDE with this beta is the schedule.
    """
    abar = cosine_alpha_bar()
    log_abar = 2 * (sp.log(sp.cos(cosine_u())) - sp.log(sp.cos(cosine_u(0))))
    beta = -sp.diff(sp.log(abar), t)
    closed = sp.pi / (1 + s) * sp.tan(cosine_u())
    integral = sp.integrate(closed.subs(t, r), (r, 0, t))
    ok = (
        equal(beta, closed)
        and equal(sp.exp(-integral), abar)
        and equal(sp.exp(log_abar), abar)
        and equal(abar.subs(t, 0), 1)
    )
    return Derivation(
        "vp_cosine_schedule",
        "cosine schedule: beta(t) = pi/(1+s) tan(u(t)) and exp(-int_0^t beta) = abar(t)",
        ok,
        {
            "alpha_bar": abar,
            "log_alpha_bar": log_abar,
            "beta": closed,
            "mean_coef": sp.sqrt(abar),
            "std": sp.sqrt(1 - abar),
        },
    )


@cache
def vp_cosine_endpoint() -> Derivation:
    """Near t = 1 the cosine schedule blows up: beta ~ 2/(1 - t), abar ~ c (1 - t)^2.

    With e = 1 - t: beta e -> 2 and abar / e^2 -> (pi / (2 (1 + s)))^2 / cos^2(u(0)); abar(1) = 0,
    which is why the process must stop at T < 1 (and why float32 makes beta(1) negative).
    """
    e = sp.Symbol("e", positive=True)
    beta = (sp.pi / (1 + s) * sp.tan(cosine_u())).subs(t, 1 - e)
    abar = cosine_alpha_bar().subs(t, 1 - e)
    beta_coef = sp.limit(beta * e, e, 0)
    abar_coef = sp.limit(abar / e**2, e, 0)
    expected = (sp.pi / (2 * (1 + s))) ** 2 / sp.cos(cosine_u(0)) ** 2
    ok = equal(beta_coef, 2) and equal(abar_coef, expected) and vanishes(abar.subs(e, 0))
    return Derivation(
        "vp_cosine_endpoint",
        "cosine schedule at t -> 1: beta ~ 2/(1-t), abar ~ c (1-t)^2, abar(1) = 0",
        ok,
        {"beta_coef": sp.simplify(beta_coef), "abar_coef": sp.simplify(abar_coef)},
    )

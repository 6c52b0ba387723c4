"""Critically damped Langevin dynamics: the paper's CLD (Section 2.3, Appendix D) and Dockhorn's.

Paper (unit mass, friction gamma): X = (a, p), dX = A X dt + B dW with
A = [[0, 1], [0, -gamma]], B = (0, sqrt(2 gamma))^T. Its kernel is derived three ways (matrix
exponential, the covariance integral of D.0.2, the Lyapunov equation) and its generative process
(Eqs. 10-11) is compared with the exact time reversal on Gaussian data.

Dockhorn et al. ("cld-hsm"): dx = beta M^-1 v dt, dv = (-beta x - Gamma beta M^-1 v) dt +
sqrt(2 Gamma beta) dW with critical damping Gamma = 2 sqrt(M); closed-form mean and covariance.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from course_lib.symbolic.core import (
    Derivation,
    beta_cld,
    data_var,
    equal,
    gamma,
    mass,
    nonzero_at,
    r,
    t,
    v0_scale,
    vanishes,
)
from course_lib.symbolic.linear import lyapunov_rhs, symmetric_function_matrix

#: The paper's drift matrix and noise covariance B B^T (Appendix D.0.1).
A_PAPER = sp.Matrix([[0, 1], [0, -gamma]])
BBT_PAPER = sp.Matrix([[0, 0], [0, 2 * gamma]])
_decay = sp.exp(-gamma * t)
#: Upper-triangle entries of a symmetric 2 x 2 matrix.
_SLOTS = [(0, 0), (0, 1), (1, 1)]


def paper_expm_closed_form() -> sp.Matrix:
    """e^{At} as printed in D.0.1."""
    return sp.Matrix([[1, (1 - _decay) / gamma], [0, _decay]])


def paper_covariance_closed_form() -> sp.Matrix:
    """Sigma_t as printed in D.0.2 (kernel covariance given (a_0, p_0))."""
    s11 = 2 * t / gamma - (3 - 4 * _decay + sp.exp(-2 * gamma * t)) / gamma**2
    s12 = (1 - _decay) ** 2 / gamma
    s22 = 1 - sp.exp(-2 * gamma * t)
    return sp.Matrix([[s11, s12], [s12, s22]])


def paper_sigma2_closed_form() -> sp.Expr:
    """sigma_CLD^2(t) = 2 / gamma^2 (gamma t + e^{-gamma t} - 1) as printed in D.0.3."""
    return 2 / gamma**2 * (gamma * t + _decay - 1)


def _kernel_integral(drift: sp.Matrix, noise_cov: sp.Matrix) -> sp.Matrix:
    """int_0^t e^{A u} B B^T e^{A^T u} du, entry by entry."""
    expm = (drift * r).exp().applyfunc(sp.simplify)
    integrand = (expm * noise_cov * expm.T).applyfunc(sp.expand)
    return integrand.applyfunc(lambda e: sp.simplify(sp.integrate(e, (r, 0, t))))


def _solve_lyapunov(drift: sp.Matrix, noise_cov: sp.Matrix, initial: sp.Matrix) -> sp.Matrix:
    """Solve C' = A C + C A^T + B B^T, C(0) = initial (2 x 2) with sympy's dsolve."""
    cov = symmetric_function_matrix("C", 2, t)
    rhs = lyapunov_rhs(drift, cov, noise_cov)
    unknowns = [cov[i, j] for i, j in _SLOTS]
    equations = [sp.Eq(f.diff(t), rhs[i, j]) for f, (i, j) in zip(unknowns, _SLOTS, strict=True)]
    ics = {f.subs(t, 0): initial[i, j] for f, (i, j) in zip(unknowns, _SLOTS, strict=True)}
    solution = {eq.lhs: sp.simplify(eq.rhs) for eq in sp.dsolve(equations, unknowns, ics=ics)}
    return cov.subs(solution)


@cache
def cld_expm() -> Derivation:
    """D.0.1: e^{At} = [[1, (1 - e^{-gamma t})/gamma], [0, e^{-gamma t}]] (sympy's Matrix.exp)."""
    expm = (A_PAPER * t).exp().applyfunc(sp.simplify)
    ok = vanishes(expm - paper_expm_closed_form()) and vanishes(expm.diff(t) - A_PAPER * expm)
    return Derivation(
        "cld_expm",
        "paper CLD: e^{At} = [[1, (1 - e^{-gamma t})/gamma], [0, e^{-gamma t}]] (D.0.1)",
        ok,
        {"expm": expm},
    )


@cache
def cld_covariance() -> Derivation:
    """D.0.2: each entry of Sigma_t = int_0^t e^{Au} B B^T e^{A^T u} du matches the paper."""
    integral = _kernel_integral(A_PAPER, BBT_PAPER)
    closed = paper_covariance_closed_form()
    ok = vanishes(integral - closed)
    return Derivation(
        "cld_covariance",
        "paper CLD: Sigma_11, Sigma_12, Sigma_22 of D.0.2 are the covariance integral",
        ok,
        {"S11": integral[0, 0], "S12": integral[0, 1], "S22": integral[1, 1]},
    )


@cache
def cld_lyapunov() -> Derivation:
    """Independent check of D.0.2: dsolve of Sigma' = A Sigma + Sigma A^T + B B^T, Sigma(0) = 0."""
    solved = _solve_lyapunov(A_PAPER, BBT_PAPER, sp.zeros(2, 2))
    closed = paper_covariance_closed_form()
    ok = vanishes(solved - closed) and vanishes(
        closed.diff(t) - lyapunov_rhs(A_PAPER, closed, BBT_PAPER)
    )
    return Derivation(
        "cld_lyapunov",
        "paper CLD: the Lyapunov ODE solved by dsolve gives the same Sigma_t",
        ok,
        {"S11": solved[0, 0], "S12": solved[0, 1], "S22": solved[1, 1]},
    )


@cache
def cld_sigma2() -> Derivation:
    """D.0.3: with p_0 ~ N(0, 1), Var(a_t | a_0) = Sigma_11 + ((1 - e^{-gamma t})/gamma)^2
    = 2/gamma^2 (gamma t + e^{-gamma t} - 1), and E[a_t | a_0] = a_0."""
    expm = paper_expm_closed_form()
    total = paper_covariance_closed_form()[0, 0] + expm[0, 1] ** 2 * 1
    ok = equal(total, paper_sigma2_closed_form())
    return Derivation(
        "cld_sigma2",
        "paper CLD position kernel variance sigma_CLD^2 = 2/gamma^2 (gamma t + e^{-gamma t} - 1)",
        ok,
        {"sigma2": paper_sigma2_closed_form()},
    )


def paper_joint_covariance() -> sp.Matrix:
    """Cov of (a_t, p_t) for a_0 ~ N(0, s_0^2), p_0 ~ N(0, 1): e^{At} C_0 e^{A^T t} + Sigma_t."""
    expm = paper_expm_closed_form()
    return (expm * sp.diag(data_var, 1) * expm.T + paper_covariance_closed_form()).applyfunc(
        sp.simplify
    )


@cache
def cld_paper_prior() -> Derivation:
    """The paper's CLD has no stationary law in position: a_t and p_t stay correlated.

    With a_0 ~ N(0, s_0^2), p_0 ~ N(0, 1): Var(p_t) = 1, Cov(a_t, p_t) = (1 - e^{-gamma t})/gamma
    -> 1/gamma and Var(a_t) = s_0^2 + sigma_CLD^2(t) grows like 2t/gamma. Sampling a_T and p_T
    independently (Section 2.3) ignores the correlation; the variance explodes as in VE.
    """
    cov = paper_joint_covariance()
    ok = (
        equal(cov[1, 1], 1)
        and equal(cov[0, 1], (1 - _decay) / gamma)
        and equal(cov[0, 0], data_var + paper_sigma2_closed_form())
        and equal(sp.limit(cov[0, 1], t, sp.oo), 1 / gamma)
        and sp.limit(cov[0, 0], t, sp.oo) == sp.oo
    )
    return Derivation(
        "cld_paper_prior",
        "paper CLD: Cov(a_t, p_t) = (1 - e^{-gamma t})/gamma != 0 and Var(a_t) -> infinity",
        ok,
        {"joint_cov": cov},
    )


@cache
def cld_exact_reversal() -> Derivation:
    """The exact reversal of dX = A X dt + B dW needs only the momentum score.

    Reverse drift in tau = T - t: -A X + B B^T grad log p_{T - tau}(X); as B B^T = diag(0, 2 gamma),
    only d/dp log p_t(a, p) of the JOINT density enters. For Gaussian marginals N(0, C(t)) (score
    -C^{-1} X) the reverse Lyapunov equation holds for C(T - tau) for ANY covariance path C that
    solves the forward one: the exact reversal reproduces the marginals.
    """
    a, p = sp.symbols("a p", real=True)
    logp = sp.Function("log_p")(a, p)
    score_term = BBT_PAPER * sp.Matrix([sp.diff(logp, a), sp.diff(logp, p)])
    cov = symmetric_function_matrix("C", 2, t)
    forward = {cov[i, j].diff(t): lyapunov_rhs(A_PAPER, cov, BBT_PAPER)[i, j] for i, j in _SLOTS}
    reverse_drift = -A_PAPER - BBT_PAPER * cov.inv()
    # S(tau) = C(T - tau): dS/dtau = -C'(t); residual written at t = T - tau.
    residual = -cov.diff(t) - lyapunov_rhs(reverse_drift, cov, BBT_PAPER)
    residual = residual.subs(forward).applyfunc(sp.simplify)
    ok = (
        score_term[0] == 0
        and equal(score_term[1], 2 * gamma * sp.diff(logp, p))
        and vanishes(residual)
    )
    return Derivation(
        "cld_exact_reversal",
        "exact CLD reversal uses 2 gamma d/dp log p_t(a, p) and reproduces the marginals",
        ok,
        {"score_term": score_term, "reverse_drift": reverse_drift, "residual": residual},
    )


@cache
def cld_paper_reversal_fails() -> Derivation:
    """Eqs. 10-11 (position score as a force on the momentum) are not the time reversal.

    For Gaussian data the force lambda(t) s(a) is -k a with k = lambda / Var(a) >= 0 any function
    of time. Require the covariance S(tau) of the generative SDE to follow the forward marginals
    C(T - tau). With the same momentum, the (a, a) residual is -4 C_12, nonzero for every k. With
    the momentum flipped (p -> -p, as when time is reversed), the (a, p) residual vanishes only for
    k = 2 gamma C_12 / C_11, and then the (p, p) residual is 4 gamma (C_22 - 1 - C_12^2 / C_11),
    which for the forward process (C_22 = 1) is -4 gamma C_12^2 / C_11 != 0. No lambda(t) works.
    """
    k = sp.Function("k", nonnegative=True)(t)
    cov = symmetric_function_matrix("C", 2, t)
    forward = {cov[i, j].diff(t): lyapunov_rhs(A_PAPER, cov, BBT_PAPER)[i, j] for i, j in _SLOTS}
    paper_drift = sp.Matrix([[0, 1], [-k, -gamma]])

    def residual(flip: sp.Matrix) -> sp.Matrix:
        target = flip * cov * flip  # S at tau = T - t, in the generative coordinates
        res = -target.diff(t) - lyapunov_rhs(paper_drift, target, BBT_PAPER)
        return res.subs(forward).applyfunc(sp.simplify)

    same = residual(sp.eye(2))
    flipped = residual(sp.diag(1, -1))
    c11, c12, c22 = cov[0, 0], cov[0, 1], cov[1, 1]
    k_star = sp.solve(flipped[0, 1], k)[0]
    pp_at_k_star = sp.simplify(flipped[1, 1].subs(k, k_star))
    joint = paper_joint_covariance()
    actual = {c11: joint[0, 0], c12: joint[0, 1], c22: joint[1, 1]}
    pp_actual = sp.simplify(sp.simplify(pp_at_k_star.subs(actual)).rewrite(sp.exp))
    at_point = {t: 1, gamma: 3, data_var: 1}
    ok = (
        equal(same[0, 0], -4 * c12)
        and equal(k_star, 2 * gamma * c12 / c11)
        and equal(pp_at_k_star, 4 * gamma * (c22 - 1 - c12**2 / c11))
        and equal(pp_actual, -4 * gamma * joint[0, 1] ** 2 / joint[0, 0])
        and nonzero_at(same[0, 0].subs(actual), at_point)
        and nonzero_at(pp_actual, at_point)
    )
    return Derivation(
        "cld_paper_reversal_fails",
        "paper's Eqs. 10-11 cannot reproduce the reverse marginals for any lambda(t)",
        ok,
        {
            "residual_same_momentum": same,
            "residual_flipped_momentum": flipped,
            "k_star": k_star,
            "pp_residual_at_k_star": -4 * gamma * joint[0, 1] ** 2 / joint[0, 0],
        },
    )


# ----- Dockhorn et al.'s CLD ("cld-hsm") -----

#: Critical damping Gamma = 2 sqrt(M).
GAMMA_CRITICAL = 2 * sp.sqrt(mass)
A_HSM = beta_cld * sp.Matrix([[0, 1 / mass], [-1, -GAMMA_CRITICAL / mass]])
BBT_HSM = sp.Matrix([[0, 0], [0, 2 * GAMMA_CRITICAL * beta_cld]])


@cache
def cld_hsm_kernel() -> Derivation:
    """Mean and covariance of (x_t, v_t) for Dockhorn's CLD, given x_0 and v_0 ~ N(0, gamma_0 M).

    Mean e^{At} (x_0, 0) with e^{At} = e^{-beta t / sqrt M} [[1 + beta t/sqrt M, beta t / M],
    [-beta t, 1 - beta t / sqrt M]]; the covariance solves the Lyapunov ODE from
    diag(0, gamma_0 M) (dsolve), agrees with e^{At} C_0 e^{A^T t} + int e^{Au} B B^T e^{A^T u} du
    and tends to the equilibrium diag(1, M).
    """
    expm = (A_HSM * t).exp().applyfunc(sp.simplify)
    w = beta_cld * t / sp.sqrt(mass)
    expected_expm = sp.exp(-w) * sp.Matrix([[1 + w, beta_cld * t / mass], [-beta_cld * t, 1 - w]])
    initial = sp.diag(0, v0_scale * mass)
    solved = _solve_lyapunov(A_HSM, BBT_HSM, initial)
    by_integral = (expm * initial * expm.T + _kernel_integral(A_HSM, BBT_HSM)).applyfunc(
        sp.simplify
    )
    equilibrium = solved.applyfunc(lambda e: sp.limit(e, t, sp.oo))
    ok = (
        vanishes(expm - expected_expm)
        and vanishes(solved - by_integral)
        and vanishes(equilibrium - sp.diag(1, mass))
    )
    x_0 = sp.Symbol("x_0", real=True)
    mean = expm * sp.Matrix([x_0, 0])
    return Derivation(
        "cld_hsm_kernel",
        "cld-hsm: closed-form mean e^{At}(x0, 0) and Lyapunov covariance, equilibrium diag(1, M)",
        ok,
        {
            "expm": expm,
            "mean_x": mean[0],
            "mean_v": mean[1],
            "Sxx": solved[0, 0],
            "Sxv": solved[0, 1],
            "Svv": solved[1, 1],
        },
    )


@cache
def cld_hsm_velocity_score() -> Derivation:
    """Hybrid score matching: with X = mu + L eps (L the Cholesky factor of Sigma),
    d/dv log N(X; mu, Sigma) = l eps_v with l = -1 / sqrt(Sigma_vv - Sigma_xv^2 / Sigma_xx)."""
    sxx, svv = sp.symbols("Sigma_xx Sigma_vv", positive=True)
    sxv = sp.Symbol("Sigma_xv", real=True)
    eps_x, eps_v = sp.symbols("epsilon_x epsilon_v", real=True)
    sigma = sp.Matrix([[sxx, sxv], [sxv, svv]])
    conditional = svv - sxv**2 / sxx
    chol = sp.Matrix([[sp.sqrt(sxx), 0], [sxv / sp.sqrt(sxx), sp.sqrt(conditional)]])
    offset = chol * sp.Matrix([eps_x, eps_v])  # X - mu
    score = -(sigma.inv() * offset)
    ell = -1 / sp.sqrt(conditional)
    ok = vanishes(chol * chol.T - sigma) and equal(score[1], ell * eps_v)
    return Derivation(
        "cld_hsm_velocity_score",
        "cld-hsm velocity score = l_t eps_v, l_t = -1/sqrt(Sigma_vv - Sigma_xv^2/Sigma_xx)",
        ok,
        {"velocity_score": sp.simplify(score[1]), "ell": ell},
    )


__all__ = [
    "A_HSM",
    "A_PAPER",
    "BBT_HSM",
    "BBT_PAPER",
    "cld_covariance",
    "cld_exact_reversal",
    "cld_expm",
    "cld_hsm_kernel",
    "cld_hsm_velocity_score",
    "cld_lyapunov",
    "cld_paper_prior",
    "cld_paper_reversal_fails",
    "cld_sigma2",
]

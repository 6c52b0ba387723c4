"""Sampler accuracy with exact scores: MATH_NOTES' table, the two-mode mixture, the paper's CLD.

Gaussian data N(0, 0.5^2): relative error of the output variance, computed exactly (the score is
linear, so every step is; ``solvers.linear_flow_map`` / ``linear_em_covariance`` read the steps off
the library's integrators) from the true p_T, i.e. the time discretisation alone. Two-mode mixture
(weights 0.3/0.7, means -1/1, stds 0.15/0.25): real samples from the prior, W1 to an exact sample
and the weight of the left mode.
"""

from __future__ import annotations

import pytest
import torch
from builders import F64, gen

from course_lib import sdes, solvers, toy

N_GAUSS, N_MIX = 50_000, 50_000

TABLE = [  # (sde, solver, steps, relative variance tolerance)
    ("vp", "heun", 50, 0.02),
    ("vp", "euler", 100, 0.03),
    ("vp", "em", 1000, 0.02),
    ("ve", "heun", 100, 0.03),
    ("cld-hsm", "em", 1000, 0.03),
    ("cld-hsm", "heun", 100, 0.02),
    ("ve-edm", "heun", 35, 0.03),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def draw(
    name: str,
    target: toy.GaussianMixture,
    solver: str,
    steps: int,
    n: int,
    seed: int = 0,
    **overrides,
):
    sde = sdes.get(name, **overrides)
    return solvers.sample(
        sde,
        target.score_fn(sde),
        (n, 1),
        solver=solver,
        steps=steps,
        generator=gen(seed),
        dtype=F64,
    )


@pytest.fixture(scope="module")
def mixture_reference() -> torch.Tensor:
    return toy.two_mode_1d().sample(200_000, gen(99), dtype=F64)


def exact_output_variance(name: str, solver: str, steps: int, data_std: float = 0.5) -> float:
    """Variance of the sampler's output on N(0, data_std^2) data, started from the true p_T."""
    sde, target = sdes.get(name), toy.gaussian_1d(data_std)
    score, start = target.score_fn(sde), target.state_covariance(sde, sde.T)[0]
    if solver == "em":
        return float(solvers.linear_em_covariance(sde, score, steps, start)[0, 0])
    G = solvers.linear_flow_map(sde, score, solver, steps)
    return float((G @ start @ G.T)[0, 0])


@pytest.mark.parametrize(("name", "solver", "steps", "tol"), TABLE)
def test_sampler_table_on_gaussian_and_mixture(name, solver, steps, tol, mixture_reference):
    assert abs(exact_output_variance(name, solver, steps) / 0.25 - 1) < tol
    y = draw(name, toy.two_mode_1d(), solver, steps, N_MIX, seed=1)
    assert toy.wasserstein1_1d(y, mixture_reference) < 0.03
    assert float((y < 0).double().mean()) == pytest.approx(0.30, abs=0.01)


def test_ddim_at_few_steps_narrows_the_samples():
    """DDIM at 10 steps narrows N(0, 0.5^2) data to a standard deviation of 0.36 (exact: 0.5; Heun
    25: 0.50): a lower-temperature sampler, which suits a policy that must place the block to a
    few pixels (figures/recipe_ablation.md)."""
    assert exact_output_variance("vp-edm", "ddim", 10) ** 0.5 < 0.8 * 0.5  # 0.36
    assert exact_output_variance("vp-edm", "heun", 25) ** 0.5 == pytest.approx(0.5, abs=0.01)
    assert exact_output_variance("vp-edm", "ddim", 400) ** 0.5 == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(("name", "solver", "steps"), [("vp", "heun", 50), ("cld-hsm", "em", 200)])
def test_sampled_variance_agrees_with_the_exact_one(name, solver, steps):
    x = draw(name, toy.gaussian_1d(0.5), solver, steps, N_GAUSS)
    exact = exact_output_variance(name, solver, steps)
    assert float(x.var()) == pytest.approx(exact, rel=0.025)  # 4 standard errors at n = 50k


def test_ve_euler_in_t_over_contracts_while_heun_does_not():
    """MATH_NOTES: Euler in t multiplies (x - D) by (1 - L dt) instead of exp(-L dt)."""
    assert exact_output_variance("ve", "euler", 100) < 0.2  # 0.16: a third of it is lost
    assert abs(exact_output_variance("ve", "heun", 100) / 0.25 - 1) < 0.03


def test_sscs_beats_euler_maruyama_at_50_steps():
    target = toy.gaussian_1d(0.5)
    sscs = draw("cld-hsm", target, "sscs", 50, N_GAUSS)
    em = draw("cld-hsm", target, "em", 50, N_GAUSS)
    assert toy.variance_error(sscs, 0.25) < toy.variance_error(em, 0.25)


def test_paper_cld_sampler_is_biased_and_more_steps_do_not_remove_the_bias():
    """The paper's Eqs. 10-11 with the EXACT position score do not sample the data.

    Measured (Gaussian data, variance 0.25): Euler-Maruyama ends near variance 1.0 (ratio about 4)
    and Euler near 0.18 (ratio about 0.72), at 250 as at 1000 steps; the correct CLD ("cld-hsm")
    reaches 0.25 within 3% (see the table above). On the two-mode mixture W1 is about 0.3.
    """
    target = toy.gaussian_1d(0.5)
    ratios = {
        (solver, n): float(draw("cld", target, solver, n, 20_000).var()) / 0.25
        for solver in ("em", "euler")
        for n in (250, 1000)
    }
    assert ratios["em", 1000] > 3.0 and ratios["em", 1000] > 0.85 * ratios["em", 250]
    assert ratios["euler", 1000] < 0.8 and abs(ratios["euler", 1000] - ratios["euler", 250]) < 0.05
    y = draw("cld", toy.two_mode_1d(), "em", 250, 20_000, seed=1)
    assert toy.wasserstein1_1d(y, toy.two_mode_1d().sample(20_000, gen(7), dtype=F64)) > 0.2


@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_cld_hsm_exponential_steps_are_exact_for_gaussian_data_at_any_step_count(solver):
    """The linear part (drift plus Gaussian score) is integrated exactly; plain steps are not."""
    plain, target = sdes.get("cld-hsm", ode_stepping="plain"), toy.gaussian_1d(0.5)
    at_t_eps = float(target.state_covariance(plain, plain.t_eps)[0, 0, 0])  # 0.25 (1 - 5e-5)
    for steps in (2, 5):
        assert exact_output_variance("cld-hsm", solver, steps) == pytest.approx(at_t_eps, rel=1e-7)
    G = solvers.linear_flow_map(plain, target.score_fn(plain), solver, 5)
    start = target.state_covariance(plain, plain.T)[0]
    assert float((G @ start @ G.T)[0, 0]) / 0.25 > 10  # rotation at frequency 16: blows up


def test_cld_hsm_exponential_steps_need_far_fewer_steps_on_the_mixture(mixture_reference):
    """Two-mode toy, W1 to the data: measured 0.013 (exponential Euler, 25 steps) against 0.40
    (plain Euler, 50 steps); 0.030 (exponential Heun, 10 steps) against 0.48 (plain Heun, 10)."""

    def w1(stepping: str, solver: str, steps: int) -> float:
        y = draw("cld-hsm", toy.two_mode_1d(), solver, steps, N_MIX, seed=1, ode_stepping=stepping)
        return toy.wasserstein1_1d(y, mixture_reference)

    assert w1("exponential", "euler", 25) < 0.03 < 0.2 < w1("plain", "euler", 50)
    assert w1("exponential", "heun", 10) < 0.06 < 0.3 < w1("plain", "heun", 10)


def test_cld_hsm_gaussian_flow_composes():
    """Phi(t -> s) = Phi(r -> s) Phi(t -> r) and w0(t -> s) = Phi(r -> s) w0(t -> r) + w0(r -> s)."""
    hsm = sdes.get("cld-hsm")
    t, r, s = 0.6, 0.05, 0.002
    as_matrix = lambda p: torch.tensor(p, dtype=F64).reshape(2, 2)  # noqa: E731
    (phi_ts, w_ts, _), (phi_tr, w_tr, _), (phi_rs, w_rs, _) = (
        hsm.gaussian_flow(a, b) for a, b in ((t, s), (t, r), (r, s))
    )
    assert torch.allclose(as_matrix(phi_ts), as_matrix(phi_rs) @ as_matrix(phi_tr), atol=1e-8)
    composed = as_matrix(phi_rs) @ torch.tensor(w_tr, dtype=F64) + torch.tensor(w_rs, dtype=F64)
    assert torch.allclose(torch.tensor(w_ts, dtype=F64), composed, atol=1e-8)
    # forward then back again is the identity
    (phi_st, _, _) = hsm.gaussian_flow(s, t)
    assert torch.allclose(as_matrix(phi_st) @ as_matrix(phi_ts), torch.eye(2, dtype=F64), atol=1e-6)

"""Orders of convergence, weak order of Euler-Maruyama, stationarity, probability-flow round trips.

All with exact scores of Gaussian data, where the probability-flow solution is known in closed form:
x_eps = sqrt(v_eps / v_T) x_T with v_t = m(t)^2 s^2 + std(t)^2.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from builders import F64, gen

from course_lib import sdes, solvers, toy

STEPS = [16, 32, 64, 128, 256, 512]


pytestmark = pytest.mark.usefixtures("one_thread")


def marginal_var(sde, s: float, t: float) -> float:
    return float(sde.mean_coeff(t)) ** 2 * s**2 + float(sde.std(t)) ** 2


def flow_errors(name: str, solver: str, steps: list[int], grid: str = "uniform") -> list[float]:
    """Max error at t_eps of ``solver`` on the probability-flow ODE of N(0, 0.5^2) data, from
    x_T on [-3, 3] standard deviations of the kernel, at each step count."""
    sde, s = sdes.get(name), 0.5
    score = toy.gaussian_1d(s).score_fn(sde)
    x_T = torch.linspace(-3, 3, 61, dtype=F64)[:, None] * float(sde.std(sde.T))
    exact = x_T * (marginal_var(sde, s, sde.t_eps) / marginal_var(sde, s, sde.T)) ** 0.5
    errors = []
    for n in steps:
        x = solvers.sample(
            sde, score, x_T.shape, solver=solver, steps=n, x_init=x_T, grid=grid,
            denoise_final=False,
        )  # fmt: skip
        errors.append(float((x - exact).abs().max()))
    return errors


@pytest.mark.parametrize(
    ("name", "solver", "lo", "hi"),
    [
        *[(name, "euler", 0.8, 1.2) for name in ("vp", "ve", "ve-edm")],
        *[(name, "heun", 1.8, 2.2) for name in ("vp", "ve", "ve-edm")],
        *[(name, "ddim", 0.8, 1.2) for name in ("vp", "ve", "vp-edm")],
    ],
)
def test_deterministic_orders_against_exact_flow(name, solver, lo, hi):
    errors = flow_errors(name, solver, STEPS)
    assert errors[-1] < errors[0] / 10
    assert lo <= toy.convergence_order(STEPS, errors) <= hi


@pytest.mark.parametrize("name", ["vp", "ve", "vp-edm"])
@pytest.mark.parametrize("steps", [1, 7])
def test_ddim_is_exact_for_a_single_data_point(name, steps):
    """For data at one point c, D = c at every noise level: x_t = m(t) c + s(t) eps with eps fixed
    along the flow, which the DDIM step carries exactly, at any step count."""
    sde, c = sdes.get(name), 0.3

    def score(x, t):  # exact for a point mass: -(x - m c)/s^2
        return sde.score_from_x0(x, torch.full_like(x, c), t)

    x_T = torch.linspace(-3, 3, 13, dtype=F64)[:, None] * float(sde.std(sde.T))
    eps = (x_T - float(sde.mean_coeff(sde.T)) * c) / float(sde.std(sde.T))
    exact = float(sde.mean_coeff(sde.t_eps)) * c + float(sde.std(sde.t_eps)) * eps
    x = solvers.sample(
        sde, score, x_T.shape, solver="ddim", steps=steps, x_init=x_T, grid="edm",
        denoise_final=False,
    )  # fmt: skip
    torch.testing.assert_close(x, exact, rtol=0, atol=1e-12)


def test_ddim_on_ve_is_euler_in_the_noise_level_and_beats_euler_in_t():
    """On VE (m = 1) the DDIM step is Euler in sigma: at 10 steps its error is 0.37 where Euler in t,
    whose steps overshoot the geometric schedule's noise levels, misses by 1.5."""
    ddim, euler = flow_errors("ve", "ddim", [10], "edm"), flow_errors("ve", "euler", [10], "edm")
    assert ddim[0] < euler[0] / 3


def test_ddim_on_vp_edm_is_euler_in_sigma_on_x_over_m():
    """DDIM on VP-EDM, stepped in t, against its closed form in y = x/m and sigma = s/m: for
    N(0, v) data D = y v/(v + sigma^2), so each Euler step in sigma multiplies y by
    1 + (sigma' - sigma) sigma/(v + sigma^2)."""
    sde, v = sdes.get("vp-edm"), 0.25
    times = solvers.time_grid(sde, 10, "edm")
    x_T = torch.linspace(-3, 3, 13, dtype=F64)[:, None]
    x = solvers.sample(
        sde, toy.gaussian_1d(v**0.5).score_fn(sde), x_T.shape, solver="ddim", steps=10,
        x_init=x_T, grid=times, denoise_final=False,
    )  # fmt: skip
    sigma = [float(sde.noise_level(t)) for t in times]
    factor = math.prod(1 + (b - a) * a / (v + a**2) for a, b in itertools.pairwise(sigma))
    scale = float(sde.mean_coeff(times[-1])) / float(sde.mean_coeff(times[0]))
    torch.testing.assert_close(x, x_T * scale * factor, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("name", "fit_from", "lo", "hi"),
    [
        ("vp", 16, 0.8, 1.2),
        ("cld-hsm", 64, 0.8, 1.2),  # pre-asymptotic below 64 steps (stiff velocity near t = 0)
        ("ve", 16, 0.8, 2.2),  # for Gaussian data the O(h) terms cancel: observed order 2.0
        ("ve-edm", 16, 0.8, 1.2),  # EM in sigma^2 on the sigmas of the uniform t grid
    ],
)
def test_euler_maruyama_weak_order(name, fit_from, lo, hi):
    """Exact variance recursion of the library's em_step (no Monte Carlo), from the true p_T."""
    sde, target = sdes.get(name), toy.gaussian_1d(0.5)
    score = target.score_fn(sde)
    start = target.state_covariance(sde, sde.T)[0]
    goal = float(target.state_covariance(sde, sde.t_eps)[0, 0, 0])
    steps = [n for n in STEPS if n >= fit_from]
    errors = [
        abs(float(solvers.linear_em_covariance(sde, score, n, start)[0, 0]) - goal) for n in steps
    ]
    assert errors[-1] < errors[0] / 8 and errors[-1] < 0.02 * goal
    assert lo <= toy.convergence_order(steps, errors) <= hi


def test_linear_moments_agree_with_sampling():
    """The exact-moment helpers describe what sample() produces."""
    hsm, target = sdes.get("cld-hsm"), toy.gaussian_1d(0.5)
    score = target.score_fn(hsm)
    x_T = hsm.prior_sample((4, 1), generator=gen(), dtype=F64)
    G = solvers.linear_flow_map(hsm, score, "heun", 20)
    out = solvers.sample(hsm, score, (4, 1), solver="heun", steps=20, x_init=x_T)
    assert torch.allclose(out, (x_T @ G.T)[:, :1], atol=1e-12)
    start = target.state_covariance(hsm, hsm.T)[0]
    cov = solvers.linear_em_covariance(hsm, score, 50, start)
    x = solvers.sample(hsm, score, (40_000, 1), solver="em", steps=50, generator=gen(), dtype=F64)
    assert float(x.var()) == pytest.approx(float(cov[0, 0]), rel=0.03)
    with pytest.raises(ValueError, match="deterministic solver"):
        solvers.linear_flow_map(hsm, score, "em", 5)


# ---------------------------------------------------------------------- stationarity
@pytest.mark.parametrize("solver", ["euler", "heun", "em"])
def test_vp_keeps_the_prior_when_data_is_the_prior(solver):
    vp = sdes.get("vp")
    score = toy.gaussian_1d(1.0).score_fn(vp)  # p_t = N(0, 1) for every t
    if solver == "em":  # exact variance recursion: O(dt) drift, 1 + beta^2 h^2 / 4 per step
        one = torch.ones(1, 1, dtype=F64)
        coarse, fine = (float(solvers.linear_em_covariance(vp, score, n, one)) for n in (100, 400))
        assert abs(fine - 1) < 0.01 and abs(fine - 1) < abs(coarse - 1) / 3
    else:  # the probability-flow velocity -1/2 beta (x + s) vanishes identically
        prior = vp.prior_sample((1000, 1), generator=gen(), dtype=F64)
        x = solvers.sample(vp, score, (1000, 1), solver=solver, steps=50, x_init=prior)
        assert torch.allclose(x, prior, atol=1e-12)


def stationary_drift(hsm, solver: str, steps: int) -> float:
    """Largest relative change of Var(x), Var(v) when sampling from the prior with its own score.

    Exact moments for the linear integrators; Monte Carlo (30k draws) for SSCS, whose noise is
    drawn inside the step.
    """

    def stationary_score(state, t):  # velocity score of N(0, 1) x N(0, M)
        return -hsm.momenta(state) / hsm.M

    prior = torch.diag(torch.tensor([1.0, hsm.M], dtype=F64))
    if solver == "em":
        cov = solvers.linear_em_covariance(hsm, stationary_score, steps, prior)
    elif solver in ("euler", "heun"):
        G = solvers.linear_flow_map(hsm, stationary_score, solver, steps)
        cov = G @ prior @ G.T
    else:
        _, path = solvers.sample(
            hsm,
            stationary_score,
            (30_000, 1),
            solver=solver,
            steps=steps,
            generator=gen(),
            dtype=F64,
            return_path=True,
        )
        cov = torch.diag(path.states[-1].var(dim=0) / path.states[0].var(dim=0)) @ prior
    return float((cov.diag() / prior.diag() - 1).abs().max())


@pytest.mark.parametrize(
    ("solver", "steps", "tol"), [("sscs", 50, 0.03), ("heun", 200, 0.002), ("em", 800, 0.02)]
)
def test_cld_hsm_keeps_its_stationary_law(solver, steps, tol):
    """SSCS is stationary by construction (exact linear part, vanishing score part)."""
    hsm = sdes.get("cld-hsm")
    assert stationary_drift(hsm, solver, steps) < tol


def test_cld_hsm_plain_euler_and_em_drift_off_at_first_order():
    """The flow rotates (x, v) at frequency 8; Euler in t gains a factor (1 + w^2 h^2) per step."""
    plain = sdes.get("cld-hsm", ode_stepping="plain")
    for solver in ("euler", "em"):
        coarse, fine = (stationary_drift(plain, solver, n) for n in (200, 800))
        assert 3.0 < coarse / fine < 5.0  # 4x more steps, 4x less drift


@pytest.mark.parametrize(("solver", "lo", "hi"), [("euler", 0.7, 1.2), ("heun", 1.8, 2.2)])
def test_cld_hsm_exponential_steps_have_orders_one_and_two(solver, lo, hi):
    """With the stationary score s_v = -v/M the ODE is dx/dt = beta v/M, dv/dt = -beta x, a rotation
    at omega = beta/sqrt(M) with a closed form; the network's correction F is then not 0, so the
    exponential steps are not exact and show their orders (measured: Euler 0.82, from 0.42 at 16
    steps to 0.042 at 256 on the uniform grid; Heun about 2)."""
    hsm = sdes.get("cld-hsm")
    x_T = hsm.prior_sample((64, 1), generator=gen(), dtype=F64)
    omega, phase = hsm.beta / hsm.M**0.5, hsm.beta / hsm.M**0.5 * (hsm.t_eps - hsm.T)
    x0, v0 = x_T[:, :1], x_T[:, 1:]
    exact = x0 * math.cos(phase) + hsm.beta / hsm.M / omega * v0 * math.sin(phase)
    errors = []
    for n in STEPS[:5]:
        out = solvers.sample(
            hsm,
            lambda u, t: -hsm.momenta(u) / hsm.M,
            (64, 1),
            solver=solver,
            steps=n,
            x_init=x_T,
            grid="uniform",
        )
        errors.append(float((out - exact).abs().max()))
    assert errors[-1] < errors[0] / (8 if solver == "euler" else 100)
    assert lo <= toy.convergence_order(STEPS[:5], errors) <= hi


@pytest.mark.parametrize(("force_scale", "expected"), [(1.0, 1.0), (2.0, 0.5)])
def test_paper_cld_langevin_is_stationary_only_for_unit_force_scale(force_scale, expected):
    """Why lambda = 1: with a frozen score of N(0, 1) the sampler keeps N(0, 1) x N(0, 1)."""
    cld = sdes.get("cld", force_scale=force_scale)
    x_init = torch.randn(40_000, 2, generator=gen(), dtype=F64)
    x = solvers.sample(
        cld,
        lambda state, t: -cld.positions(state),
        (40_000, 1),
        solver="em",
        steps=1000,
        generator=gen(1),
        x_init=x_init,
    )
    assert float(x.var()) == pytest.approx(expected, rel=0.04)


# ---------------------------------------------------------------------- round trip
@pytest.mark.parametrize("name", ["vp", "ve"])
def test_probability_flow_round_trip(name):
    sde = sdes.get(name)
    mix = toy.two_mode_1d()
    x0 = mix.sample(2000, gen(), dtype=F64)
    grid = solvers.time_grid(sde, 500, "uniform")
    latent = solvers.probability_flow(sde, mix.score_fn(sde), x0, grid.flip(0), method="heun")
    assert float(latent.std()) > 0.5 * float(sde.std(sde.T))  # really carried to the prior
    back = solvers.probability_flow(sde, mix.score_fn(sde), latent, grid, method="heun")
    assert float((back - x0).abs().max()) < 1e-3

"""The sympy derivations hold, and their closed forms are the numbers course_lib.sdes computes."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from course_lib import sdes, symbolic
from course_lib.symbolic import core as sym
from course_lib.symbolic.cld import A_HSM, BBT_HSM, paper_joint_covariance
from course_lib.symbolic.vp import beta_fn, cosine_alpha_bar

torch.set_num_threads(1)

EXPECTED_CHECKS = {
    "ito_w_squared",
    "ito_gbm_log",
    "ou_moments",
    "vp_integrating_factor",
    "vp_kernel_ito_isometry",
    "vp_kernel_moment_odes",
    "vp_ddpm_limit",
    "vp_conditional_score",
    "vp_eps_loss_reweighting",
    "vp_cosine_schedule",
    "vp_cosine_endpoint",
    "ve_schedule",
    "ve_kernel_variance",
    "ve_conditional_score",
    "ve_weighting_equivalence",
    "ve_euler_factor",
    "cld_expm",
    "cld_covariance",
    "cld_lyapunov",
    "cld_sigma2",
    "cld_paper_prior",
    "cld_exact_reversal",
    "cld_paper_reversal_fails",
    "cld_hsm_kernel",
    "cld_hsm_velocity_score",
    "fokker_planck_gaussian",
    "probability_flow_continuity",
    "reverse_sde_marginals",
    "dropped_noise_is_not_probability_flow",
}


def _np(value) -> np.ndarray:
    return value.detach().double().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


# ------------------------------------------------------------------ the derivations hold


def test_verify_all_names_are_stable_and_every_check_is_proved():
    results = symbolic.verify_all()
    assert set(results) == EXPECTED_CHECKS
    failed = [name for name, ok in results.items() if ok is not True]
    assert not failed, f"sympy could not prove {failed}"
    assert set(symbolic.PAPER_ERRATA) <= set(results)


def test_each_result_carries_a_statement_and_expressions():
    for name, result in symbolic.run_all().items():
        assert result.name == name and bool(result) is result.ok
        assert result.statement and "\n" not in result.statement
        assert result.exprs, f"{name} returned no expressions"


def test_symbolic_imports_neither_torch_nor_numpy_at_module_level():
    package = Path(symbolic.__file__).parent
    for source in sorted(package.glob("*.py")):
        tree = ast.parse(source.read_text())
        for node in tree.body:  # module level only
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            roots = {name.split(".")[0] for name in names}
            assert not roots & {"torch", "numpy"}, f"{source.name} imports {roots}"


def test_zero_test_rejects_nonzero_and_counterexamples_are_detected():
    assert not sym.vanishes(sp.exp(-sym.t) - 1 + sym.t - sym.t**2)
    assert sym.vanishes(sp.sinh(sym.t) - (sp.exp(sym.t) - sp.exp(-sym.t)) / 2)
    assert sym.nonzero_at(1 - sp.exp(-sym.gamma * sym.t), {sym.t: 1, sym.gamma: 3})
    assert not sym.nonzero_at(sp.sin(sym.t), {sym.t: 0})


def test_ito_lemma_vector_case_product_rule_with_shared_noise():
    x, y = sp.symbols("x y", real=True)
    # X = Y = W (one shared Brownian motion): d(XY) = (2W) dW + d[W]_t, drift 1.
    d = symbolic.ito_lemma(x * y, [x, y], sym.t, [0, 0], sp.Matrix([[1], [1]]))
    assert d.drift == 1 and sp.simplify(d.diffusion[0, 0] - (x + y)) == 0
    # independent noises: no cross-variation, drift 0.
    d = symbolic.ito_lemma(x * y, [x, y], sym.t, [0, 0], sp.eye(2))
    assert d.drift == 0


def test_ito_lemma_rejects_mismatched_shapes():
    x, y = sp.symbols("x y", real=True)
    with pytest.raises(ValueError, match="one row per variable"):
        symbolic.ito_lemma(x * y, [x, y], sym.t, [0], sp.eye(2))


def test_ve_kernel_gap_is_nonzero_and_position_force_residual_negative():
    gap = symbolic.ve_kernel_variance().exprs["gap"]
    assert float(gap.subs(sym.sigma_min, 0.01)) == pytest.approx(1e-4)
    residual = symbolic.cld_paper_reversal_fails().exprs["pp_residual_at_k_star"]
    fn = sp.lambdify([sym.t, sym.gamma, sym.data_var], residual, "numpy")
    values = fn(np.linspace(0.05, 5, 50), 3.0, 0.25)
    assert np.all(values < 0)


# ------------------------------------------------------------------ numbers against sdes


@pytest.mark.parametrize("s_offset", [0.008, 0.05])
def test_vp_schedule_matches_sdes(s_offset):
    sde = sdes.get("vp", s=s_offset)
    times = torch.linspace(0.0, sde.T, 101, dtype=torch.float64)
    tt = times.numpy()
    result = symbolic.vp_cosine_schedule()
    for key, method in (
        ("beta", sde.beta),
        ("alpha_bar", sde.alpha_bar),
        ("log_alpha_bar", sde.log_alpha_bar),
    ):
        expected = result.function(key, [sym.t, sym.s])(tt, s_offset)
        np.testing.assert_allclose(_np(method(times)), expected, rtol=1e-9, atol=1e-12)


def test_vp_marginal_matches_generic_kernel_with_cosine_beta():
    """The kernel derived for a generic beta, evaluated for the cosine beta, is sdes.marginal."""
    closed_beta = symbolic.vp_cosine_schedule().exprs["beta"]
    kernel = symbolic.vp_kernel_moment_odes()
    cosine = sp.Lambda(sym.r, closed_beta.subs(sym.t, sym.r))
    mean = kernel.exprs["mean"].replace(beta_fn, cosine).doit()
    var = kernel.exprs["variance"].replace(beta_fn, cosine).doit()
    sde = sdes.get("vp")
    s_value = sde.s
    mean_fn = sp.lambdify([sym.t, sym.x0], mean.subs(sym.s, s_value), "numpy")
    var_fn = sp.lambdify([sym.t], var.subs(sym.s, s_value), "numpy")
    times = torch.linspace(0.01, sde.T, 40, dtype=torch.float64)
    x0 = torch.linspace(-2.0, 2.0, 40, dtype=torch.float64)[:, None]
    got_mean, got_std = sde.marginal(x0, times)
    np.testing.assert_allclose(
        _np(got_mean)[:, 0], mean_fn(times.numpy(), x0[:, 0].numpy()), rtol=1e-8
    )
    np.testing.assert_allclose(_np(got_std)[:, 0] ** 2, var_fn(times.numpy()), rtol=1e-8)
    abar = sp.lambdify([sym.t], cosine_alpha_bar().subs(sym.s, s_value), "numpy")
    np.testing.assert_allclose(var_fn(times.numpy()), 1 - abar(times.numpy()), rtol=1e-10)


def test_vp_marginal_at_time_zero_is_the_data():
    sde = sdes.get("vp")
    mean, std = sde.marginal(torch.ones(1, 1, dtype=torch.float64), 0.0)
    assert float(mean) == 1.0 and float(std) == 0.0  # sqrt(1 - abar(0)) = 0 exactly


@pytest.mark.parametrize(("smin", "smax"), [(0.01, 50.0), (0.002, 80.0)])
def test_ve_schedule_and_kernel_match_sdes(smin, smax):
    exact = sdes.get("ve", sigma_min=smin, sigma_max=smax, kernel="exact")
    song = sdes.get("ve", sigma_min=smin, sigma_max=smax, kernel="song")
    times = torch.linspace(0.0, exact.T, 101, dtype=torch.float64)
    tt = times.numpy()
    args = [sym.t, sym.sigma_min, sym.sigma_max]
    schedule = symbolic.ve_schedule()
    kernel = symbolic.ve_kernel_variance()
    np.testing.assert_allclose(
        _np(exact.sigma(times)), schedule.function("sigma", args)(tt, smin, smax), rtol=1e-10
    )
    np.testing.assert_allclose(
        _np(exact.g2(times)), schedule.function("g2", args)(tt, smin, smax), rtol=1e-10
    )
    np.testing.assert_allclose(
        _np(exact.std(times)) ** 2,
        kernel.function("variance", args)(tt, smin, smax),
        rtol=1e-8,
        atol=1e-15,
    )
    paper = kernel.function("paper_variance", args)(tt, smin, smax)
    np.testing.assert_allclose(_np(song.std(times)) ** 2, paper, rtol=1e-10)


def test_ve_exact_variance_is_the_integral_of_g2_from_sdes():
    """Midpoint sum of sdes' g^2 over [0, t] against the symbolic sigma^2(t) - sigma_min^2."""
    sde = sdes.get("ve")
    n = 20000
    edges = np.linspace(0.0, 0.1, n + 1)
    mids = torch.as_tensor((edges[1:] + edges[:-1]) / 2)
    integral = float(_np(sde.g2(mids)).sum() * 0.1 / n)
    fn = symbolic.ve_kernel_variance().function("variance", [sym.t, sym.sigma_min, sym.sigma_max])
    exact = fn(0.1, sde.sigma_min, sde.sigma_max)
    assert integral == pytest.approx(exact, rel=1e-6)
    assert float(sde.sigma(0.1)) ** 2 / exact - 1 > 0.2  # the paper's sigma^2(t) is 22% too big


@pytest.mark.parametrize("gamma_value", [3.0, 0.7])
def test_paper_cld_closed_forms_match_sdes(gamma_value):
    sde = sdes.get("cld", gamma=gamma_value)
    times = torch.linspace(0.0, 5.0, 101, dtype=torch.float64)
    tt = times.numpy()
    args = [sym.t, sym.gamma]
    expm = sp.lambdify(args, symbolic.cld_expm().exprs["expm"], "numpy")
    got = _np(sde.expm_A(times))
    for k, t_value in enumerate(tt):
        np.testing.assert_allclose(got[k], expm(t_value, gamma_value), rtol=1e-10, atol=1e-14)
    cov = symbolic.cld_covariance()
    for key, value in zip(("S11", "S12", "S22"), sde.kernel_cov(times), strict=True):
        np.testing.assert_allclose(
            _np(value), cov.function(key, args)(tt, gamma_value), rtol=1e-7, atol=1e-12
        )
    sigma2 = symbolic.cld_sigma2().function("sigma2", args)(tt, gamma_value)
    np.testing.assert_allclose(_np(sde.sigma2(times)), sigma2, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize(
    ("mass_value", "beta_value", "v0_factor"), [(0.25, 4.0, 0.04), (1.0, 2.0, 0.0)]
)
def test_cld_hsm_mean_and_covariance_match_sdes(mass_value, beta_value, v0_factor):
    sde = sdes.get(
        "cld-hsm", M=mass_value, Gamma=2 * mass_value**0.5, beta=beta_value, v0_var_factor=v0_factor
    )
    times = torch.linspace(0.0, sde.T, 101, dtype=torch.float64)
    tt = times.numpy()
    kernel = symbolic.cld_hsm_kernel()
    args = [sym.t, sym.mass, sym.beta_cld, sym.v0_scale]
    x0 = sp.Symbol("x_0", real=True)
    m_x, m_v = sde.kernel_mean_coeffs(times)
    for key, got in (("mean_x", m_x), ("mean_v", m_v)):
        fn = sp.lambdify(args, kernel.exprs[key].subs(x0, 1), "numpy")
        np.testing.assert_allclose(
            _np(got), fn(tt, mass_value, beta_value, v0_factor), rtol=1e-9, atol=1e-13
        )
    for key, got in zip(("Sxx", "Sxv", "Svv"), sde.kernel_cov(times), strict=True):
        expected = kernel.function(key, args)(tt, mass_value, beta_value, v0_factor)
        np.testing.assert_allclose(_np(got), expected, rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------------ closed forms against simulation


def _simulate_linear(
    drift: np.ndarray, noise_sd: float, start: np.ndarray, horizon: float, seed: int
):
    """Euler-Maruyama for dX = drift X dt + (0, noise_sd) dW; start has shape (2, n)."""
    rng = np.random.default_rng(seed)
    steps = 1000
    h = horizon / steps
    state = start.copy()
    for _ in range(steps):
        state = state + h * (drift @ state)
        state[1] += noise_sd * np.sqrt(h) * rng.standard_normal(state.shape[1])
    return state


def test_paper_cld_joint_covariance_against_simulation():
    """Simulated (a_t, p_t) from a_0 ~ N(0, 0.25), p_0 ~ N(0, 1) against paper_joint_covariance."""
    n, gamma_value, horizon, data_var = 40000, 3.0, 1.0, 0.25
    rng = np.random.default_rng(1)
    start = np.stack([0.5 * rng.standard_normal(n), rng.standard_normal(n)])
    drift = np.array([[0.0, 1.0], [0.0, -gamma_value]])
    end = _simulate_linear(drift, np.sqrt(2 * gamma_value), start, horizon, seed=2)
    expected = sp.lambdify([sym.t, sym.gamma, sym.data_var], paper_joint_covariance(), "numpy")(
        horizon, gamma_value, data_var
    )
    np.testing.assert_allclose(np.cov(end), expected, rtol=0.03, atol=0.01)


def test_cld_hsm_covariance_against_simulation():
    n, mass_value, beta_value, v0_factor, horizon = 40000, 0.25, 4.0, 0.04, 0.3
    subs = {sym.mass: mass_value, sym.beta_cld: beta_value}
    drift = np.array(A_HSM.subs(subs), dtype=float)
    noise_sd = float(sp.sqrt(BBT_HSM[1, 1]).subs(subs))
    rng = np.random.default_rng(3)
    start = np.stack([np.zeros(n), np.sqrt(v0_factor * mass_value) * rng.standard_normal(n)])
    end = _simulate_linear(drift, noise_sd, start, horizon, seed=4)
    kernel = symbolic.cld_hsm_kernel()
    args = [sym.t, sym.mass, sym.beta_cld, sym.v0_scale]
    values = [
        kernel.function(k, args)(horizon, mass_value, beta_value, v0_factor)
        for k in ("Sxx", "Sxv", "Svv")
    ]
    expected = np.array([[values[0], values[1]], [values[1], values[2]]])
    np.testing.assert_allclose(np.cov(end), expected, rtol=0.04, atol=0.005)


def test_ou_moments_against_simulation():
    theta, sigma_value, x0_value, horizon = 1.5, 0.8, 2.0, 1.0
    result = symbolic.ou_moments()
    th, sg = sp.symbols("theta sigma", positive=True)
    args = [sym.t, sym.x0, th, sg]
    mean = result.function("mean", args)(horizon, x0_value, theta, sigma_value)
    var = result.function("variance", args)(horizon, x0_value, theta, sigma_value)
    rng = np.random.default_rng(5)
    x = np.full(50000, x0_value)
    steps = 1000
    h = horizon / steps
    for _ in range(steps):
        x = x - theta * x * h + sigma_value * np.sqrt(h) * rng.standard_normal(x.size)
    assert x.mean() == pytest.approx(mean, abs=5 * np.sqrt(var / x.size) + 2e-3)
    assert x.var() == pytest.approx(var, rel=0.03)

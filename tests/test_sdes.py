"""course_lib.sdes: registry, schedules, closed forms, parameterisations, shapes and error paths."""

from __future__ import annotations

import math

import pytest
import torch
from builders import F64, gen

from course_lib import sdes

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------- registry
def test_names_and_get_build_every_sde():
    assert sdes.NAMES == ("vp", "ve", "cld", "cld-hsm", "ve-edm", "vp-edm")
    for name in sdes.NAMES:
        sde = sdes.get(name)
        assert sde.name == name
        assert 0 <= sde.t_eps < sde.T
        assert sde.state_factor == (2 if name.startswith("cld") else 1)


def test_get_rejects_unknown_name_and_override():
    with pytest.raises(ValueError, match="valid names.*'vp'.*'ve-edm'"):
        sdes.get("subvp")
    with pytest.raises(ValueError, match="valid ones are.*sigma_max"):
        sdes.get("ve", sigma_maximum=10.0)


def test_overrides_are_applied():
    assert sdes.get("ve", sigma_max=10.0).sigma_max == 10.0
    assert sdes.get("cld", gamma=2.0).gamma == 2.0
    assert sdes.get("ve-edm", sigma_data=0.3).sigma_data == 0.3
    assert sdes.get("vp", T=0.99).T == 0.99


@pytest.mark.parametrize(
    ("name", "overrides", "match"),
    [
        ("vp", {"T": 1.0}, "T < 1"),
        ("vp", {"t_eps": 0.995}, "t_eps < T"),
        ("ve", {"sigma_min": 60.0}, "sigma_min < sigma_max"),
        ("ve", {"kernel": "sigma2"}, "kernel must be one of"),
        ("cld", {"gamma": -1.0}, "gamma must be positive"),
        ("cld-hsm", {"M": 1.0}, "critical damping"),
        ("cld-hsm", {"time_law": "cubic"}, "unknown time_law"),
        ("cld-hsm", {"p_std": 0.0}, "p_std must be positive"),
        ("ve-edm", {"sigma_data": 0.0}, "must be positive"),
    ],
)
def test_bad_parameters_raise(name, overrides, match):
    with pytest.raises(ValueError, match=match):
        sdes.get(name, **overrides)


# ---------------------------------------------------------------------- VP schedule
def test_vp_schedule_values_match_the_notes():
    vp = sdes.get("vp")
    t = torch.tensor([0.0, 0.5, 0.9, 0.99], dtype=F64)
    assert torch.allclose(
        vp.beta(t), torch.tensor([0.0389, 3.156, 19.84, 200.0], dtype=F64), rtol=2e-3
    )
    assert math.isclose(float(vp.alpha_bar(0.5)), 0.494, rel_tol=2e-3)
    assert math.isclose(float(vp.alpha_bar(0.9)), 0.0241, rel_tol=2e-3)
    assert math.isclose(float(vp.alpha_bar(vp.T)), 7.1e-5, rel_tol=1e-2)
    assert math.isclose(float(vp.beta(vp.T)), 370.0, rel_tol=1e-2)
    assert float(vp.alpha_bar(0.0)) == pytest.approx(1.0, abs=1e-15)


def test_vp_beta_is_minus_derivative_of_log_alpha_bar():
    vp = sdes.get("vp")
    t = torch.linspace(0.01, 0.99, 50, dtype=F64)
    h = 1e-6
    numeric = -(vp.log_alpha_bar(t + h) - vp.log_alpha_bar(t - h)) / (2 * h)
    assert torch.allclose(numeric, vp.beta(t), rtol=1e-6)


def test_vp_mean_and_std_are_consistent_with_alpha_bar():
    vp = sdes.get("vp")
    t = torch.linspace(0.0, vp.T, 33, dtype=F64)
    ab = vp.alpha_bar(t)
    assert torch.allclose(vp.mean_coeff(t) ** 2, ab, rtol=1e-12)
    assert torch.allclose(vp.std(t) ** 2, 1 - ab, rtol=1e-9, atol=1e-15)
    assert torch.allclose(vp.noise_level(t) ** 2, (1 - ab) / ab, rtol=1e-9, atol=1e-15)
    assert torch.allclose(vp.time_of_noise_level(vp.noise_level(t)), t, atol=1e-9)


def test_vp_beta_is_finite_and_positive_in_float32_on_the_sampling_grid():
    from course_lib.solvers import time_grid

    vp = sdes.get("vp")
    for kind in ("uniform", "quadratic", "edm"):
        grid = time_grid(vp, 1000, kind).to(torch.float32)
        beta = vp.beta(grid)
        assert beta.dtype == torch.float32
        assert bool(torch.isfinite(beta).all()) and bool((beta > 0).all())
        assert bool(torch.isfinite(vp.std(grid)).all()) and bool((vp.mean_coeff(grid) > 0).all())


def test_naive_float32_cosine_schedule_breaks_at_t_equal_one():
    """The trap the float64 schedule avoids: u(1) rounds above pi/2 and tan(u) turns negative."""
    s = 0.008
    u = (torch.tensor(1.0) + s) / (1 + s) * (math.pi / 2)
    assert float(torch.tan(u)) < 0


# ---------------------------------------------------------------------- VE schedule
@pytest.mark.parametrize("name", ["ve", "ve-edm"])
def test_ve_g2_is_derivative_of_sigma_squared(name):
    sde = sdes.get(name)
    t = torch.linspace(0.01, 0.99, 40, dtype=F64)
    h = 1e-6
    numeric = (sde.sigma(t + h) ** 2 - sde.sigma(t - h) ** 2) / (2 * h)
    assert torch.allclose(numeric, sde.g2(t), rtol=1e-6)
    assert torch.allclose(sde.diffusion(t) ** 2, sde.g2(t), rtol=1e-12)
    assert float(sde.sigma(0.0)) == pytest.approx(0.01)
    assert float(sde.sigma(1.0)) == pytest.approx(50.0)


def test_ve_kernel_variance_choice_is_explicit():
    exact, song = sdes.get("ve"), sdes.get("ve", kernel="song")
    assert exact.kernel == "exact" and song.kernel == "song"
    t = torch.tensor([0.0, 0.1, 0.5], dtype=F64)
    sig = exact.sigma(t)
    assert torch.allclose(exact.std(t) ** 2, sig**2 - 0.01**2, rtol=1e-10, atol=1e-18)
    assert torch.allclose(song.std(t), sig)
    ratio = float(song.std(0.1) ** 2 / exact.std(0.1) ** 2)
    assert 1.15 < ratio < 1.25  # the 18% of MATH_NOTES at t = 0.1
    assert torch.allclose(exact.time_of_noise_level(exact.std(t[1:])), t[1:], atol=1e-12)
    assert sdes.get("ve-edm").kernel == "song"


# ---------------------------------------------------------------------- CLD closed forms
def van_loan_covariance(A: torch.Tensor, Q: torch.Tensor, t: float) -> torch.Tensor:
    """int_0^t e^{As} Q e^{A^T s} ds from one matrix exponential (Van Loan, 1978)."""
    block = torch.zeros(4, 4, dtype=F64)
    block[:2, :2], block[:2, 2:], block[2:, 2:] = -A, Q, A.T
    E = torch.linalg.matrix_exp(block * t)
    return E[2:, 2:].T @ E[:2, 2:]


def test_paper_cld_matrix_exponential_and_covariance_match_numerics():
    cld = sdes.get("cld")
    g, t = cld.gamma, 0.7
    A = torch.tensor([[0.0, 1.0], [0.0, -g]], dtype=F64)
    assert torch.allclose(cld.expm_A(t), torch.linalg.matrix_exp(A * t), atol=1e-14)
    # Sigma_t = int_0^t e^{Au} B B^T e^{A^T u} du by the trapezoid rule on a fine grid
    u = torch.linspace(0.0, t, 20001, dtype=F64)
    E = torch.linalg.matrix_exp(A[None] * u[:, None, None])
    BBt = torch.tensor([[0.0, 0.0], [0.0, 2 * g]], dtype=F64)
    integrand = E @ BBt @ E.transpose(1, 2)
    numeric = torch.trapezoid(integrand, u, dim=0)
    s11, s12, s22 = cld.kernel_cov(t)
    assert torch.allclose(torch.stack([s11, s12, s22]), numeric[[0, 0, 1], [0, 1, 1]], rtol=1e-7)


def test_paper_cld_sigma2_is_total_variance_with_unit_momentum():
    cld = sdes.get("cld")
    t = torch.tensor([1e-3, 0.3, 2.0, 14.0], dtype=F64)
    s11, _, _ = cld.kernel_cov(t)
    e12 = cld.expm_A(t)[:, 0, 1]
    assert torch.allclose(cld.sigma2(t), s11 + e12**2, rtol=1e-7)
    assert torch.allclose(cld.std(t) ** 2, cld.sigma2(t))
    assert 2.9 < float(cld.std(cld.T)) < 3.1  # T chosen so sigma_CLD(T) is 3x the data range


def test_cld_hsm_kernel_matches_matrix_exponential_and_quadrature():
    hsm = sdes.get("cld-hsm")
    beta, M, G = hsm.beta, hsm.M, hsm.Gamma
    F = beta * torch.tensor([[0.0, 1 / M], [-1.0, -G / M]], dtype=F64)
    for t in (1e-4, 0.05, 0.6):
        E = torch.linalg.matrix_exp(F * t)
        mx, mv = hsm.kernel_mean_coeffs(t)
        assert torch.allclose(torch.stack([mx, mv]), E[:, 0], rtol=1e-10, atol=1e-14)
        Q = torch.tensor([[0.0, 0.0], [0.0, 2 * G * beta]], dtype=F64)
        noise = van_loan_covariance(F, Q, t)
        v0 = hsm.v0_var_factor * M
        expected = noise + v0 * E[:, 1:2] @ E[:, 1:2].T
        got = torch.stack(hsm.kernel_cov(t))
        assert torch.allclose(got, expected[[0, 0, 1], [0, 1, 1]], rtol=1e-8, atol=1e-16)


def test_cld_hsm_cholesky_and_stationary_limit():
    hsm = sdes.get("cld-hsm")
    t = torch.tensor([0.0, 1e-5, 1e-3, 0.3, 1.0], dtype=F64)
    lxx, lvx, lvv = hsm.kernel_cholesky(t)
    sxx, sxv, svv = hsm.kernel_cov(t)
    assert torch.allclose(lxx**2, sxx, atol=1e-18)
    assert torch.allclose(lxx * lvx, sxv, rtol=1e-8, atol=1e-18)
    assert torch.allclose(lvx**2 + lvv**2, svv, rtol=1e-8)
    assert float(lvv[0]) == pytest.approx(math.sqrt(hsm.v0_var_factor * hsm.M))
    # at T the kernel has (almost) forgotten x_0 and reached N(0, 1) x N(0, M)
    assert abs(float(sxx[-1]) - 1.0) < 1e-3 and abs(float(svv[-1]) - hsm.M) < 1e-3


def test_cld_hsm_mixed_score_is_exact_for_gaussian_data_and_inputs_have_unit_variance():
    from course_lib import toy

    hsm = sdes.get("cld-hsm")
    sd = hsm.sigma_data
    n = 200_000
    for t in (hsm.t_eps, 0.05, 0.3, 0.9):
        x0 = sd * torch.randn(n, 1, generator=gen(), dtype=F64)
        state, _ = hsm.perturb(x0, t, gen(2))
        exact = toy.gaussian_1d(sd).score_fn(hsm)(state, torch.full((n,), t, dtype=F64))
        # the Gaussian part of the output is the whole answer: the network's ideal output is 0
        assert hsm.output_from_score(exact, state, t).abs().max() < 1e-8
        x_in, _ = hsm.network_inputs(state, t)
        assert torch.allclose(x_in.var(dim=0), torch.ones(2, dtype=F64), rtol=0.02)


def test_cld_hsm_effective_sigma_is_the_error_of_the_best_estimate_of_x0():
    """Regressing x_0 on u_t leaves variance 1/(1/s^2 + 1/sigma_eff^2) for x_0 ~ N(0, s^2)."""
    hsm = sdes.get("cld-hsm")
    n, s = 400_000, 0.5
    for t in (0.01, 0.05, 0.1, 0.2):
        x0 = s * torch.randn(n, 1, generator=gen(), dtype=F64)
        state, _ = hsm.perturb(x0, t, gen(5))
        coef = torch.linalg.lstsq(state, x0).solution
        residual = float((x0 - state @ coef).var())
        expected = 1.0 / (1.0 / s**2 + 1.0 / float(hsm.effective_sigma(t)) ** 2)
        assert residual == pytest.approx(expected, rel=0.01)
    tt = torch.tensor([hsm.t_eps, 0.01, 0.1, 0.5, hsm.T], dtype=F64)
    assert torch.allclose(hsm.time_of_sigma(hsm.effective_sigma(tt)), tt, rtol=1e-6)


@pytest.mark.parametrize(
    ("law", "check"),
    [
        ("lognormal", "log_sigma"),
        ("sqrt", "mean"),  # t_eps + (T - t_eps) w^2, w ~ U[0, 1]: mean t_eps + (T - t_eps) / 3
        ("uniform", "mean"),
    ],
)
def test_cld_hsm_training_time_laws(law, check):
    hsm = sdes.get("cld-hsm", time_law=law)
    t = hsm.sample_time(200_000, generator=gen(), dtype=F64)
    assert float(t.min()) >= hsm.t_eps and float(t.max()) <= hsm.T
    if check == "log_sigma":  # EDM's N(-1.2, 1.2^2); truncation at ln 7e-4 and ln 250 is negligible
        log_sigma = torch.log(hsm.effective_sigma(t))
        assert float(log_sigma.mean()) == pytest.approx(-1.2, abs=0.02)
        assert float(log_sigma.std()) == pytest.approx(1.2, abs=0.02)
    else:
        share = 1 / 3 if law == "sqrt" else 1 / 2
        assert float(t.mean()) == pytest.approx(hsm.t_eps + (hsm.T - hsm.t_eps) * share, rel=0.01)


def test_sscs_linear_part_keeps_the_prior():
    hsm = sdes.get("cld-hsm")
    (e11, e12, e21, e22), (c11, c12, c22) = hsm.sscs_linear(0.13)
    E = torch.tensor([[e11, e12], [e21, e22]], dtype=F64)
    P = torch.diag(torch.tensor([1.0, hsm.M], dtype=F64))
    C = torch.tensor([[c11, c12], [c12, c22]], dtype=F64)
    assert torch.allclose(E @ P @ E.T + C, P, atol=1e-12)


# ---------------------------------------------------------------------- kernel helpers
@pytest.mark.parametrize("name", ["vp", "ve", "ve-edm", "cld"])
def test_score_eps_x0_conversions_are_inverse(name):
    sde = sdes.get(name)
    x = torch.randn(6, 3, generator=gen(), dtype=F64)
    x0 = torch.randn(6, 3, generator=gen(1), dtype=F64)
    t = torch.linspace(0.1, 0.9, 6, dtype=F64) * sde.T
    score = sde.score_from_x0(x, x0, t)
    assert torch.allclose(sde.eps_to_score(sde.score_to_eps(score, t), t), score)
    assert torch.allclose(sde.x0_from_score(x, score, t), x0, atol=1e-9)
    mean, std = sde.marginal(x0, t)
    assert mean.shape == std.shape == x0.shape
    assert torch.allclose(score, -(x - mean) / std**2)


# ---------------------------------------------------------------------- parameterisation
#: Processes with EDM's preconditioned denoiser D(x/m; sigma) = c_skip x/m + c_out F(c_in x/m).
EDM_NAMES = ("ve-edm", "vp-edm")


def exact_gaussian_net(sde, data_std: float):
    """net_fn(x_in, c_noise) whose output gives the exact score of N(0, data_std^2) data."""
    from course_lib import toy

    score_fn = toy.gaussian_1d(data_std).score_fn(sde)

    def net(x_in, c_noise, scale: float = 1.0):
        if sde.name in EDM_NAMES:  # x_in = c_in x / m with m = 1 for VE-EDM
            sigma = torch.exp(4 * c_noise)
            t = sde.time_of_noise_level(sigma).clamp(0, sde.T)
            m = sde.mean_coeff(t)
            state = x_in * (torch.sqrt(sigma**2 + sde.sigma_data**2) * m)[:, None]
        elif sde.name == "cld-hsm":
            scale_x, scale_v = (c[:, None] for c in sde.input_scales(c_noise))
            d = x_in.shape[-1] // 2
            state = torch.cat([x_in[:, :d] / scale_x, x_in[:, d:] / scale_v], dim=-1)
            t = c_noise
        else:
            state, t = x_in, c_noise
        score = scale * score_fn(state, t)
        return sde.output_from_score(score, state, t)

    return net


@pytest.mark.parametrize("name", sdes.NAMES)
def test_network_round_trip_returns_the_exact_score(name):
    sde = sdes.get(name)
    x0 = 0.5 * torch.randn(64, 1, generator=gen(), dtype=F64)
    t = torch.linspace(sde.t_eps + 0.01, sde.T, 64, dtype=F64)
    state = sde.initial_state(x0, gen(2))
    from course_lib import toy

    exact = toy.gaussian_1d(0.5).score_fn(sde)(state, t)
    net = exact_gaussian_net(sde, 0.5)
    x_in, c_noise = sde.network_inputs(state, t)
    assert x_in.shape == state.shape and c_noise.shape == (64,)
    assert torch.allclose(sde.score_from_output(net(x_in, c_noise), state, t), exact, rtol=1e-9)
    if name in EDM_NAMES:
        assert torch.allclose(c_noise, torch.log(sde.noise_level(t)) / 4)
    else:
        assert torch.allclose(c_noise, t)


def closed_form_min_loss(sde, s: float, t: float) -> float:
    """The minimum of each objective for N(0, s^2) data at time t (posterior variances)."""
    if sde.name == "cld-hsm":
        mx, mv = (float(c) for c in sde.kernel_mean_coeffs(t))
        sxx, sxv, svv = (float(c) for c in sde.kernel_cov(t))
        lxx, lvx, lvv = (float(c) for c in sde.kernel_cholesky(t))
        m = torch.tensor([mx, mv], dtype=F64)
        C = s**2 * torch.outer(m, m) + torch.tensor([[sxx, sxv], [sxv, svv]], dtype=F64)
        L = torch.tensor([[lxx, 0.0], [lvx, lvv]], dtype=F64)
        return float(1.0 - (L.T @ torch.linalg.solve(C, L))[1, 1])  # Var(eps_v | u_t)
    a, sig = float(sde.mean_coeff(t)), float(sde.std(t))
    if sde.name in EDM_NAMES:  # lambda(sigma) * posterior variance of x_0, sigma = std / mean
        sd, sig = sde.sigma_data, sig / a
        return (sig**2 + sd**2) / (sig * sd) ** 2 * s**2 * sig**2 / (s**2 + sig**2)
    return a**2 * s**2 / (a**2 * s**2 + sig**2)  # posterior variance of eps


@pytest.mark.parametrize("name", sdes.NAMES)
def test_loss_at_exact_score_equals_closed_form_minimum(name):
    sde = sdes.get(name)
    s, n = 0.5, 200_000
    x0 = s * torch.randn(n, 1, generator=gen(), dtype=F64)
    net = exact_gaussian_net(sde, s)
    for frac in (0.02, 0.3, 0.8):
        t = sde.t_eps + frac * (sde.T - sde.t_eps)
        loss = sde.loss(net, x0, generator=gen(1), t=t)
        assert loss.shape == (n,)
        expected = closed_form_min_loss(sde, s, t)
        assert float(loss.mean()) == pytest.approx(expected, rel=0.01)
        if frac < 0.1:  # eps is nearly unpredictable there: a 5% score error costs < 1e-5
            continue
        worse = sde.loss(lambda xi, c: net(xi, c, scale=1.05), x0, generator=gen(1), t=t)
        assert float(worse.mean()) > float(loss.mean())


@pytest.mark.parametrize("name", sdes.NAMES)
def test_loss_shapes_dtypes_and_reproducibility(name):
    sde = sdes.get(name)
    seen = {}

    def net(x_in, c_noise):
        seen["shapes"] = (tuple(x_in.shape), tuple(c_noise.shape), x_in.dtype, c_noise.dtype)
        return x_in[..., :2].sin() * c_noise[:, None, None]

    for dtype in (torch.float32, torch.float64):
        x0 = torch.rand(5, 8, 2, generator=gen(), dtype=dtype) * 2 - 1
        a = sde.loss(net, x0, generator=gen(3))
        b = sde.loss(net, x0, generator=gen(3))
        assert a.shape == (5,) and a.dtype == dtype and torch.equal(a, b)
        assert bool(torch.isfinite(a).all())
        assert seen["shapes"] == ((5, 8, 2 * sde.state_factor), (5,), dtype, dtype)
    assert not torch.equal(sde.loss(net, x0, generator=gen(4)), b)
    flat = sde.loss(lambda x_in, c: x_in[:, :1] * c[:, None], torch.rand(7, generator=gen()))
    assert flat.shape == (7,)  # a flat batch is read as (batch, 1)


@pytest.mark.parametrize("name", sdes.NAMES)
def test_sample_time_range_and_prior_shapes(name):
    sde = sdes.get(name)
    t = sde.sample_time(50_000, generator=gen(), dtype=F64)
    assert t.shape == (50_000,) and float(t.min()) >= sde.t_eps and float(t.max()) <= sde.T
    if name not in (*EDM_NAMES, "cld-hsm"):  # uniform on [t_eps, T]; EDM's law is tested below
        mid = 0.5 * (sde.t_eps + sde.T)
        assert float(t.mean()) == pytest.approx(mid, rel=0.01)
    prior = sde.prior_sample((4, 8, 2), generator=gen(), dtype=F64)
    assert prior.shape == (4, 8, 2 * sde.state_factor) and prior.dtype == F64
    assert torch.equal(prior, sde.prior_sample((4, 8, 2), generator=gen(), dtype=F64))


def test_ve_edm_training_sigmas_are_truncated_lognormal():
    sde = sdes.get("ve-edm")
    log_sigma = torch.log(sde.sigma(sde.sample_time(200_000, generator=gen(), dtype=F64)))
    assert float(log_sigma.min()) >= math.log(0.01) - 1e-9
    assert float(log_sigma.max()) <= math.log(50.0) + 1e-9
    # truncation at ln 0.01 = -4.6 and ln 50 = 3.9 barely touches N(-1.2, 1.2^2)
    assert float(log_sigma.mean()) == pytest.approx(-1.2, abs=0.02)
    assert float(log_sigma.std()) == pytest.approx(1.2, abs=0.02)


def test_vp_edm_training_sigmas_are_truncated_lognormal_over_the_vp_range():
    sde = sdes.get("vp-edm")
    t = sde.sample_time(200_000, generator=gen(), dtype=F64)
    log_sigma = torch.log(sde.noise_level(t))
    lo, hi = (math.log(float(sde.noise_level(v))) for v in (sde.t_eps, sde.T))
    assert lo - 1e-9 <= float(log_sigma.min()) and float(log_sigma.max()) <= hi + 1e-9
    assert float(log_sigma.mean()) == pytest.approx(-1.2, abs=0.02)
    assert float(log_sigma.std()) == pytest.approx(1.2, abs=0.02)


def test_vp_edm_network_sees_what_ve_edm_sees():
    """x_t = m (x_0 + sigma n): VP-EDM's network input, noise code and loss at t equal VE-EDM's at
    the time of the same sigma and the same noise (EDM Secs. 2-3: only the scale m(t) differs)."""
    vp, ve = sdes.get("vp-edm"), sdes.get("ve-edm")
    x0 = torch.rand(32, 16, 2, generator=gen(), dtype=F64) * 2 - 1
    sigma = torch.exp(torch.linspace(math.log(0.02), math.log(40.0), 32, dtype=F64))
    t_vp, t_ve = vp.time_of_noise_level(sigma), ve.time_of_noise_level(sigma)
    assert torch.allclose(vp.noise_level(t_vp), sigma) and torch.allclose(ve.sigma(t_ve), sigma)
    noised = x0 + sigma[:, None, None] * torch.randn(x0.shape, generator=gen(1), dtype=F64)
    m = vp.mean_coeff(t_vp)[:, None, None]
    pairs = zip(vp.network_inputs(m * noised, t_vp), ve.network_inputs(noised, t_ve), strict=True)
    for a, b in pairs:
        assert torch.allclose(a, b, atol=1e-12)

    def net(x_in, c_noise):
        return torch.tanh(x_in.flip(-1)) * c_noise[:, None, None]

    loss_vp = vp.loss(net, x0, generator=gen(2), t=t_vp)
    loss_ve = ve.loss(net, x0, generator=gen(2), t=t_ve)
    assert torch.allclose(loss_vp, loss_ve, rtol=1e-9)


def test_ve_edm_preconditioning_values():
    sde = sdes.get("ve-edm")
    c = sde.preconditioning(torch.tensor([0.5], dtype=F64))
    assert float(c.c_skip) == pytest.approx(0.5)
    assert float(c.c_out) == pytest.approx(0.5 / math.sqrt(2))
    assert float(c.c_in) == pytest.approx(1 / math.sqrt(0.5))
    assert float(c.c_noise) == pytest.approx(math.log(0.5) / 4)


def test_cld_hsm_preconditioning_is_exact_for_gaussian_data():
    """k_x x + k_v v is the whole noise estimate for N(0, sigma_data^2) data: the network's ideal
    correction F = -l_vv s_v - (k_x x + k_v v) vanishes under the toy's exact velocity score."""
    from course_lib import toy

    sde = sdes.get("cld-hsm")
    score_fn = toy.gaussian_1d(sde.sigma_data).score_fn(sde)
    state = torch.randn(64, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    for t in (0.01, 0.1, 0.6):
        tt = torch.full((64,), t, dtype=F64)
        c = sde.preconditioning(t)
        ideal = -c.l_vv * score_fn(state, tt)
        assert torch.allclose(ideal, c.k_x * state[:, :1] + c.k_v * state[:, 1:], atol=1e-9)
        assert torch.allclose(
            sde.output_from_score(score_fn(state, tt), state, tt), 0 * ideal, atol=1e-9
        )


# ---------------------------------------------------------------------- shapes and errors
@pytest.mark.parametrize("name", sdes.NAMES)
def test_drift_diffusion_shapes_and_dtypes(name):
    sde = sdes.get(name)
    for dtype in (torch.float32, torch.float64):
        state = sde.prior_sample((3, 8, 2), generator=gen(), dtype=dtype)
        for t in (0.5 * sde.T, torch.full((3,), 0.5 * sde.T, dtype=dtype)):
            f = sde.drift(state, t)
            assert f.shape == state.shape and f.dtype == dtype
        assert float(sde.diffusion(0.5 * sde.T)) > 0


@pytest.mark.parametrize("name", sdes.NAMES)
def test_time_errors(name):
    sde = sdes.get(name)
    state = sde.prior_sample((3, 2), generator=gen())
    for bad in (-0.1, sde.T * 1.01 + 0.01):
        with pytest.raises(ValueError, match=r"\[0, T\]"):
            sde.drift(state, bad)
    with pytest.raises(ValueError, match="entries but the batch has 3"):
        sde.drift(state, torch.full((4,), 0.1))
    with pytest.raises(ValueError, match="shape \\(batch,\\)"):
        sde.drift(state, torch.full((3, 1), 0.1))
    with pytest.raises(ValueError, match="non-finite"):
        sde.diffusion(float("nan"))


@pytest.mark.parametrize("name", sdes.NAMES)
def test_output_shape_errors(name):
    sde = sdes.get(name)
    state = sde.prior_sample((3, 2), generator=gen())
    with pytest.raises(ValueError, match="data shape"):
        sde.score_from_output(torch.zeros(3, 3), state, 0.5)
    with pytest.raises(ValueError, match="data shape"):
        sde.loss(lambda x, c: torch.zeros(3, 5), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="batch"):
        sde.loss(lambda x, c: x, torch.zeros(0, 2))


def test_phase_space_layout_errors():
    cld = sdes.get("cld")
    with pytest.raises(ValueError, match="last dim 2\\*d"):
        cld.drift(torch.zeros(2, 3), 0.5)
    with pytest.raises(ValueError, match="no momentum"):
        sdes.get("vp").momenta(torch.zeros(2, 2))
    state = cld.initial_state(torch.ones(2, 3), gen())
    assert torch.equal(cld.positions(state), torch.ones(2, 3))
    assert torch.equal(cld.lift(torch.ones(2, 3))[..., :3], torch.zeros(2, 3))


def test_reverse_drift_matches_the_paper_and_math_notes():
    vp = sdes.get("vp")
    x, s = (
        torch.randn(4, 3, generator=gen(), dtype=F64),
        torch.randn(4, 3, generator=gen(1), dtype=F64),
    )
    beta = vp.beta(0.4)
    assert torch.allclose(vp.reverse_drift(x, s, 0.4, probability_flow=True), -0.5 * beta * (x + s))
    assert torch.allclose(vp.reverse_drift(x, s, 0.4), -0.5 * beta * x - beta * s)  # App. B
    ve = sdes.get("ve")
    assert torch.allclose(ve.reverse_drift(x, s, 0.4), -ve.g2(0.4) * s)  # App. C
    hsm = sdes.get("cld-hsm")
    u = torch.randn(4, 6, generator=gen(2), dtype=F64)
    pos, vel = u[:, :3], u[:, 3:]
    b, M, G = hsm.beta, hsm.M, hsm.Gamma
    pf = hsm.reverse_drift(u, s, 0.4, probability_flow=True)
    assert torch.allclose(pf, torch.cat([b * vel / M, -b * pos - G * b * vel / M - G * b * s], -1))
    sde_drift = hsm.reverse_drift(u, s, 0.4)
    assert torch.allclose(sde_drift[:, 3:], -b * pos - G * b * vel / M - 2 * G * b * s)
    with pytest.raises(ValueError, match="not|no reverse drift"):
        sdes.get("cld").reverse_drift(u, s, 0.4)


def test_cld_hsm_memoised_coefficients_match_the_direct_computation():
    hsm = sdes.get("cld-hsm")
    state = hsm.prior_sample((5, 3), generator=gen(), dtype=F64)
    output = torch.randn(5, 3, generator=gen(1), dtype=F64)
    mixed = torch.tensor([0.3, 0.3, 0.3, 0.3, 0.31], dtype=F64)  # per-sample path, no memo
    for _ in range(2):  # the second call reads the memo
        shared = hsm.score_from_output(output, state, torch.full((5,), 0.3, dtype=F64))
        per_sample = hsm.score_from_output(output, state, mixed)
        assert torch.allclose(shared[:4], per_sample[:4], rtol=1e-12, atol=0)
    assert not torch.allclose(shared[4], per_sample[4])
    h = 0.07
    assert hsm.sscs_linear(h) == hsm.sscs_linear(h)  # memoised floats, unchanged
    (e11, e12, e21, e22), _ = hsm.sscs_linear(h)
    E = torch.linalg.matrix_exp(torch.tensor(hsm.F_reverse, dtype=F64) * h)
    assert torch.allclose(torch.tensor([[e11, e12], [e21, e22]], dtype=F64), E, rtol=1e-10)


def test_vp_lognormal_time_law_gives_edm_noise_levels_and_uniform_stays_the_paper_law():
    sde = sdes.get("vp", time_law="lognormal")
    gen = torch.Generator().manual_seed(0)
    t = sde.sample_time(200_000, generator=gen, dtype=torch.float64)
    assert float(t.min()) >= sde.t_eps and float(t.max()) <= sde.T
    log_sigma = torch.log(sde.noise_level(t))
    # truncation at sigma(t_eps) = 0.0016 and sigma(T) = 118 removes < 0.1 % of N(-1.2, 1.2^2)
    assert float(log_sigma.mean()) == pytest.approx(-1.2, abs=0.02)
    assert float(log_sigma.std()) == pytest.approx(1.2, abs=0.02)
    paper = sdes.get("vp").sample_time(200_000, generator=gen, dtype=torch.float64)
    assert float(paper.mean()) == pytest.approx((sdes.get("vp").T + 1e-3) / 2, abs=0.01)
    with pytest.raises(ValueError, match="time_law"):
        sdes.get("vp", time_law="sqrt")

"""course_lib.toy: mixtures, exact marginals and scores under every SDE, and the metrics."""

from __future__ import annotations

import math
import types

import pytest
import torch
from builders import F64, gen

from course_lib import sdes, solvers, toy

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------- mixtures
def test_presets():
    two = toy.two_mode_1d()
    assert torch.allclose(two.weights, torch.tensor([0.3, 0.7], dtype=F64))
    assert torch.allclose(two.means[:, 0], torch.tensor([-1.0, 1.0], dtype=F64))
    assert torch.allclose(two.stds[:, 0], torch.tensor([0.15, 0.25], dtype=F64))
    assert float(toy.gaussian_1d().variance()) == pytest.approx(0.25)
    three = toy.three_mode_2d()
    assert isinstance(three, toy.GaussianMixture2D) and three.dim == 2
    assert float(three.weights.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("mixture", [toy.two_mode_1d(), toy.three_mode_2d()])
def test_sampling_moments_and_reproducibility(mixture):
    x = mixture.sample(200_000, gen(), dtype=F64)
    assert x.shape == (200_000, mixture.dim) and x.dtype == F64
    se = (mixture.variance() / 200_000).sqrt()
    assert bool(((x.mean(0) - mixture.mean()).abs() < 5 * se).all())
    assert torch.allclose(x.var(0), mixture.variance(), rtol=0.02)
    assert torch.equal(mixture.sample(10, gen(3)), mixture.sample(10, gen(3)))
    assert mixture.sample(10).dtype == torch.float32


def test_mixture_validation():
    with pytest.raises(ValueError, match="need weights"):
        toy.GaussianMixture([0.5, 0.5], [0.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        toy.GaussianMixture([1.0, 0.0], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="\\(K, 2\\)"):
        toy.GaussianMixture2D([1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="no exact score"):
        toy.gaussian_1d().score_fn(types.SimpleNamespace(name="other"))
    vp = sdes.get("vp")
    with pytest.raises(ValueError, match="mixture has d=1"):
        toy.gaussian_1d().score_fn(vp)(torch.zeros(3, 2), torch.full((3,), 0.5))


# ---------------------------------------------------------------------- marginals and scores
@pytest.mark.parametrize("name", sdes.NAMES)
def test_marginal_density_is_normalised_and_diffuses(name):
    sde = sdes.get(name)
    mix = toy.two_mode_1d()
    for t in (sde.t_eps, 0.3 * sde.T):
        half_width = 8 * (1 + float(mix.position_marginal(sde, t)[1].max()) ** 0.5)
        x = torch.linspace(-half_width, half_width, 40001, dtype=F64)
        p = mix.marginal_density(sde, x, t)
        assert float(torch.trapezoid(p, x)) == pytest.approx(1.0, abs=1e-6)
    means, var = mix.position_marginal(sde, 0.3 * sde.T)
    assert bool((var > mix.stds**2).all())


def test_marginal_density_matches_kernel_simulation():
    """p_t from the formula against data pushed through the reparameterised VP kernel."""
    vp, mix = sdes.get("vp"), toy.two_mode_1d()
    x0 = mix.sample(200_000, gen(), dtype=F64)
    xt, _ = vp.perturb(x0, 0.4, gen(1))
    hist = torch.histc(xt, bins=40, min=-2.0, max=2.0) / (200_000 * 0.1)
    centres = torch.linspace(-1.95, 1.95, 40, dtype=F64)
    assert torch.allclose(hist.double(), mix.marginal_density(vp, centres, 0.4), atol=0.02)


@pytest.mark.parametrize("name", ["vp", "ve", "ve-edm", "cld"])
@pytest.mark.parametrize("mixture", [toy.two_mode_1d(), toy.three_mode_2d()])
def test_position_score_is_gradient_of_log_marginal(name, mixture):
    sde = sdes.get(name)
    x = 1.5 * torch.randn(50, mixture.dim, generator=gen(), dtype=F64)
    state = x if sde.state_factor == 1 else torch.cat([x, torch.randn_like(x)], dim=-1)
    for t in (sde.t_eps, 0.05 * sde.T, 0.5 * sde.T):
        xr = x.clone().requires_grad_(True)
        log_p = torch.log(mixture.marginal_density(sde, xr, t)).sum()
        (grad,) = torch.autograd.grad(log_p, xr)
        score = mixture.score_fn(sde)(state, torch.full((50,), t, dtype=F64))
        assert torch.allclose(score, grad, rtol=1e-8, atol=1e-8)


def joint_log_density(hsm, mixture, state: torch.Tensor, t: float) -> torch.Tensor:
    """log p_t(x, v) built independently from torch.distributions (2x2 per dimension)."""
    mx, mv = (float(c) for c in hsm.kernel_mean_coeffs(t))
    sxx, sxv, svv = (float(c) for c in hsm.kernel_cov(t))
    m = torch.tensor([mx, mv], dtype=F64)
    sigma = torch.tensor([[sxx, sxv], [sxv, svv]], dtype=F64)
    d = mixture.dim
    pairs = torch.stack([state[:, :d], state[:, d:]], dim=-1)  # (n, d, 2)
    comps = []
    for w, mu, sd in zip(mixture.weights, mixture.means, mixture.stds, strict=True):
        cov = sigma + (sd[:, None, None] ** 2) * torch.outer(m, m)  # (d, 2, 2)
        dist = torch.distributions.MultivariateNormal(mu[:, None] * m, covariance_matrix=cov)
        comps.append(math.log(w) + dist.log_prob(pairs).sum(-1))
    return torch.logsumexp(torch.stack(comps), dim=0)


@pytest.mark.parametrize("mixture", [toy.two_mode_1d(), toy.three_mode_2d()])
def test_cld_hsm_velocity_score_is_gradient_of_joint_log_density(mixture):
    hsm = sdes.get("cld-hsm")
    state = hsm.prior_sample((40, mixture.dim), generator=gen(), dtype=F64)
    for t in (hsm.t_eps, 0.1, 0.7):
        sr = state.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(joint_log_density(hsm, mixture, sr, t).sum(), sr)
        score = mixture.score_fn(hsm)(state, torch.full((40,), t, dtype=F64))
        assert torch.allclose(score, hsm.momenta(grad), rtol=1e-7, atol=1e-7)


def test_scores_accept_per_sample_times_and_extra_dims():
    vp, mix = sdes.get("vp"), toy.three_mode_2d()
    state = torch.randn(4, 8, 2, generator=gen(), dtype=F64)
    t = torch.tensor([0.01, 0.2, 0.5, 0.9], dtype=F64)
    batched = mix.score_fn(vp)(state, t)
    for i in range(4):
        single = mix.score_fn(vp)(state[i], t[i].expand(8))
        assert torch.allclose(batched[i], single)
    hsm = sdes.get("cld-hsm")
    phase = hsm.prior_sample((4, 8, 2), generator=gen(), dtype=torch.float32)
    out = mix.score_fn(hsm)(phase, t.float())
    assert out.shape == (4, 8, 2) and out.dtype == torch.float32


# ---------------------------------------------------------------------- metrics
def test_wasserstein1_closed_forms():
    a = torch.randn(10_000, generator=gen(), dtype=F64)
    assert toy.wasserstein1_1d(a, a + 0.3) == pytest.approx(0.3, abs=1e-9)
    assert toy.wasserstein1_1d(a, a) == 0.0
    # unequal sizes: W1 between point masses at 0 and 1 is 1
    assert toy.wasserstein1_1d(torch.zeros(3), torch.ones(5)) == pytest.approx(1.0)
    # two Gaussians N(0,1), N(0, 2^2): W1 = E|Z| (2 - 1) = sqrt(2/pi)
    b = 2 * torch.randn(200_000, generator=gen(1), dtype=F64)
    c = torch.randn(200_000, generator=gen(2), dtype=F64)
    assert toy.wasserstein1_1d(b, c) == pytest.approx(math.sqrt(2 / math.pi), rel=0.02)
    with pytest.raises(ValueError, match="non-empty"):
        toy.wasserstein1_1d(torch.zeros(0), a)


def test_variance_error_and_convergence_order():
    x = torch.tensor([[-1.0, -2.0], [1.0, 2.0]], dtype=F64)  # variances 2 and 8
    assert toy.variance_error(x, torch.tensor([2.0, 8.0])) == pytest.approx(0.0)
    assert toy.variance_error(x, 4.0) == pytest.approx(1.0)  # max(|2-4|/4, |8-4|/4)
    steps = [16, 32, 64, 128]
    assert toy.convergence_order(steps, [3.0 / n**2 for n in steps]) == pytest.approx(2.0)
    assert toy.convergence_order(steps, [0.5 / n for n in steps]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two"):
        toy.convergence_order([16], [0.1])
    with pytest.raises(ValueError, match="positive"):
        toy.convergence_order([16, 32], [0.1, 0.0])


# ---------------------------------------------------------------------- the toy sampler
def test_one_reference_draw_per_preset_shared_by_every_w1():
    ref = toy.reference_draw("two-mode")
    assert ref is toy.reference_draw("two-mode")  # one draw, however often it is asked for
    assert ref.shape == (toy.REFERENCE_SIZE, 1) and ref.dtype == F64
    again = toy.two_mode_1d().sample(
        toy.REFERENCE_SIZE, generator=gen(toy.REFERENCE_SEED), dtype=F64
    )
    assert torch.equal(ref, again)
    assert toy.w1_to_reference(ref) == 0.0
    assert toy.w1_to_reference(torch.tensor([float("nan")])) == math.inf
    with pytest.raises(ValueError, match="valid targets"):
        toy.preset("three-mode")


def test_toy_sampler_is_solvers_sample_with_the_exact_score():
    vp, mix = sdes.get("vp"), toy.two_mode_1d()
    x = toy.sample(vp, "heun", 30, target="two-mode", n_samples=300, seed=5)
    y = solvers.sample(
        vp, mix.score_fn(vp), (300, 1), solver="heun", steps=30, generator=gen(5), dtype=F64
    )
    assert torch.equal(x, y)
    samples, path = toy.sample(vp, "em", 10, target="three-mode-2d", n_samples=4, return_path=True)
    assert samples.shape == (4, 2) and path.states.shape == (11, 4, 2)
    metrics = toy.sample_metrics(toy.reference_draw("gaussian"), "gaussian")
    assert metrics["w1"] == 0.0 and metrics["variance_error"] < 0.01
    with pytest.raises(ValueError, match="n_samples"):
        toy.sample(vp, "heun", 3, n_samples=0)

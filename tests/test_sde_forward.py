"""Forward SDEs simulated with Euler-Maruyama (100k paths, 1000 steps) against the exact kernels.

Variances within 2%, means within 5 standard errors, and for the phase-space processes the whole 2x2
covariance (off-diagonal within 5 standard errors).
"""

from __future__ import annotations

import math

import pytest
import torch
from builders import F64

from course_lib import sdes
from course_lib.solvers import simulate_forward

PATHS, STEPS = 100_000, 1000


pytestmark = pytest.mark.usefixtures("one_thread")


def simulate(sde, state0: torch.Tensor, t_end: float, seed: int = 0) -> torch.Tensor:
    times = torch.linspace(0.0, t_end, STEPS + 1, dtype=F64)
    return simulate_forward(sde, state0, times, generator=torch.Generator().manual_seed(seed))


def assert_mean(samples: torch.Tensor, mean: float, var: float) -> None:
    se = math.sqrt(var / samples.numel())
    assert abs(float(samples.mean()) - mean) < 5 * se, (float(samples.mean()), mean, se)


def assert_var(samples: torch.Tensor, var: float, rel: float = 0.02) -> None:
    assert float(samples.var()) == pytest.approx(var, rel=rel)


def assert_cov2(a: torch.Tensor, b: torch.Tensor, s11: float, s12: float, s22: float) -> None:
    """The empirical 2x2 covariance of (a, b) against (s11, s12, s22)."""
    assert_var(a, s11)
    assert_var(b, s22)
    cov = float(((a - a.mean()) * (b - b.mean())).mean())
    se = math.sqrt((s11 * s22 + s12**2) / a.numel())
    assert abs(cov - s12) < 5 * se, (cov, s12, se)


def test_vp_forward_matches_kernel():
    vp = sdes.get("vp")
    x0, t = 0.7, 0.5
    end = simulate(vp, torch.full((PATHS, 1), x0, dtype=F64), t)
    mean, std = vp.marginal(torch.tensor([[x0]], dtype=F64), t)
    assert_mean(end, float(mean), float(std) ** 2)
    assert_var(end, float(std) ** 2)


def test_ve_forward_matches_the_declared_kernel():
    """Both kernel choices share the dynamics; only the start differs, so one run checks both."""
    exact, song = sdes.get("ve"), sdes.get("ve", kernel="song")
    t = 0.1  # where the two kernel choices differ by 18%
    x0 = torch.zeros(PATHS // 2, 1, dtype=F64)
    start = torch.cat([exact.initial_state(x0), song.initial_state(x0, torch.Generator())])
    end = simulate(exact, start, t)
    for sde, part in ((exact, end[: PATHS // 2]), (song, end[PATHS // 2 :])):
        var = float(sde.std(t)) ** 2
        assert_mean(part, 0.0, var)
        assert_var(part, var)
    assert float(song.std(t) ** 2 / exact.std(t) ** 2) > 1.15


def test_paper_cld_forward_matches_appendix_d():
    """Half the paths from a fixed (a_0, p_0) (D.0.1-D.0.2), half with p_0 ~ N(0, 1) (D.0.3)."""
    cld = sdes.get("cld")
    t, a0, p0, half = 1.0, 0.3, 0.5, PATHS // 2
    fixed = torch.tensor([[a0, p0]], dtype=F64).expand(half, 2)
    random_p0 = cld.initial_state(torch.full((half, 1), -0.4, dtype=F64), torch.Generator())
    end = simulate(cld, torch.cat([fixed, random_p0]), t)
    mean = cld.expm_A(t) @ torch.tensor([a0, p0], dtype=F64)
    s11, s12, s22 = (float(c) for c in cld.kernel_cov(t))
    a, p = end[:half, 0], end[:half, 1]
    assert_mean(a, float(mean[0]), s11)
    assert_mean(p, float(mean[1]), s22)
    assert_cov2(a, p, s11, s12, s22)
    var = float(cld.sigma2(t))
    assert_mean(end[half:, 0], -0.4, var)
    assert_var(end[half:, 0], var)


def test_cld_hsm_forward_matches_closed_form_kernel():
    hsm = sdes.get("cld-hsm")
    t, x0 = 0.3, 0.8
    data = torch.full((PATHS, 1), x0, dtype=F64)
    end = simulate(hsm, hsm.initial_state(data, torch.Generator().manual_seed(3)), t)
    mx, mv = (float(c) for c in hsm.kernel_mean_coeffs(t))
    sxx, sxv, svv = (float(c) for c in hsm.kernel_cov(t))
    pos, vel = end[:, 0], end[:, 1]
    assert_mean(pos, mx * x0, sxx)
    assert_mean(vel, mv * x0, svv)
    assert_cov2(pos, vel, sxx, sxv, svv)


def test_cld_hsm_perturb_draws_from_the_kernel():
    """The reparameterised draw used by the loss has the same law as the simulated SDE."""
    hsm = sdes.get("cld-hsm")
    t, x0 = 0.3, 0.8
    state, eps = hsm.perturb(torch.full((PATHS, 1), x0, dtype=F64), t, torch.Generator())
    mx, mv = (float(c) for c in hsm.kernel_mean_coeffs(t))
    sxx, sxv, svv = (float(c) for c in hsm.kernel_cov(t))
    assert_mean(state[:, 0], mx * x0, sxx)
    assert_mean(state[:, 1], mv * x0, svv)
    assert_cov2(state[:, 0], state[:, 1], sxx, sxv, svv)
    assert eps.shape == state.shape


def test_simulate_forward_rejects_bad_times():
    vp = sdes.get("vp")
    with pytest.raises(ValueError, match="increasing"):
        simulate_forward(vp, torch.zeros(2, 1), torch.tensor([0.5, 0.1]))
    with pytest.raises(ValueError, match=r"\[0, T\]"):
        simulate_forward(vp, torch.zeros(2, 1), torch.tensor([0.5, 1.5]))

"""Samplers on Gaussian data with exact scores: output variances without Monte-Carlo noise.

For data N(0, s^2) every score is linear in the state, so a probability-flow solver maps x_T to
G x_T and an Euler-Maruyama step is u' = C u + D z; :mod:`course_lib.solvers.moments` reads G, C
and D off the library's own steps. Var_out = G^2 Var(x_T) for the ODE solvers and
Var' = C^2 Var + D^2 per step for Euler-Maruyama, both exact (notebooks 03, 05 and 09). The CLD
covariances along generative time solve the Lyapunov ODE of each linear generative SDE (notebook 04).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from course_lib import sdes, toy
from course_lib.arguments import check_positive
from course_lib.solvers.moments import linear_em_covariance, linear_flow_map


def _as_numpy(value) -> np.ndarray:
    return value.detach().cpu().double().numpy() if isinstance(value, torch.Tensor) else value


def _marginal_variance(sde: sdes.SDE, target: toy.GaussianMixture, t: float) -> float:
    return float(target.position_marginal(sde, t)[1][0, 0])


def ode_gain(sde: sdes.SDE, score_fn, solver: str, steps: int) -> float:
    """The factor c with x_out = c x_T of a probability-flow solver (d = 1, one state component,
    no final denoising step): ``linear_flow_map`` of the run."""
    return float(linear_flow_map(sde, score_fn, solver, steps, denoise_final=False)[0, 0])


def em_output_variance(sde: sdes.SDE, score_fn, steps: int, start_variance: float) -> float:
    """Variance after ``steps`` Euler-Maruyama steps on the uniform grid from ``start_variance``
    (``linear_em_covariance``: Var' = c^2 Var + d^2 per step)."""
    start = torch.tensor([[start_variance]], dtype=torch.float64)
    return float(linear_em_covariance(sde, score_fn, steps, start, grid="uniform")[0, 0])


def solver_variances(
    sde_name: str,
    steps_list: tuple[int, ...],
    solvers_used: tuple[str, ...] = ("euler", "heun", "em"),
    data_std: float = 0.5,
    **overrides,
) -> dict[str, np.ndarray]:
    """Variance of the samples of each solver on N(0, data_std^2) data with the exact score.

    Starts from the true marginal N(0, v_T) (not the prior) so that only the time discretisation
    is measured; no final denoising step. Returns {solver: variances} and "target": v(t_eps).
    """
    sde, target = sdes.get(sde_name, **overrides), toy.gaussian_1d(data_std)
    score_fn = target.score_fn(sde)
    v_start = _marginal_variance(sde, target, sde.T)
    out: dict[str, np.ndarray] = {"target": np.array(_marginal_variance(sde, target, sde.t_eps))}
    for solver in solvers_used:
        if solver == "em":
            values = [em_output_variance(sde, score_fn, n, v_start) for n in steps_list]
        else:
            values = [ode_gain(sde, score_fn, solver, n) ** 2 * v_start for n in steps_list]
        out[solver] = np.array(values)
    return out


def convergence_errors(
    sde_name: str = "vp",
    steps_list: tuple[int, ...] = (16, 32, 64, 128, 256, 512),
    data_std: float = 0.5,
) -> dict[str, np.ndarray]:
    """Global errors of Euler, Heun (probability flow) and Euler-Maruyama (weak, in variance).

    Gaussian data: the exact probability-flow map is x_eps = sqrt(v_eps / v_T) x_T, so the ODE
    error is |c - sqrt(v_eps / v_T)| for the solver's gain c; for EM it is |Var_N - v_eps| with
    the variance iterated exactly (:func:`em_output_variance`).
    """
    sde, target = sdes.get(sde_name), toy.gaussian_1d(data_std)
    score_fn = target.score_fn(sde)
    v_start = _marginal_variance(sde, target, sde.T)
    v_end = _marginal_variance(sde, target, sde.t_eps)
    exact_gain = math.sqrt(v_end / v_start)
    out = {"steps": np.array(steps_list)}
    for solver in ("euler", "heun"):
        gains = np.array([ode_gain(sde, score_fn, solver, n) for n in steps_list])
        out[solver] = np.abs(gains - exact_gain)
    out["em"] = np.array(
        [abs(em_output_variance(sde, score_fn, n, v_start) - v_end) for n in steps_list]
    )
    return out


def paper_cld_sampler_variance(
    steps: int, n_samples: int = 4000, data_std: float = 0.5, seed: int = 0
) -> float:
    """Variance of the paper's CLD Euler-Maruyama sampler with the exact position score of
    N(0, data_std^2) data: a Monte-Carlo estimate from ``n_samples`` draws of the toy sampler."""
    out = toy.sample(
        sdes.get("cld"),
        "em",
        steps,
        target=toy.gaussian_1d(data_std),
        n_samples=n_samples,
        seed=seed,
    )
    return float(out.var())


def _lyapunov_path(
    drifts: np.ndarray, noise: np.ndarray, start: np.ndarray, h: float
) -> np.ndarray:
    """RK4 for S' = M S + S M^T + Q with step h; ``drifts`` holds M on the half-step grid.

    ``drifts[j]`` is M(j h / 2), shape (2 n + 1, 2, 2) for n steps; returns S at the n + 1 steps.
    """
    steps = (drifts.shape[0] - 1) // 2
    out = np.empty((steps + 1, 2, 2))
    out[0] = start

    def rhs(m: np.ndarray, cov: np.ndarray) -> np.ndarray:
        return m @ cov + cov @ m.T + noise

    for k in range(steps):
        cov, m0, m_half, m1 = out[k], drifts[2 * k], drifts[2 * k + 1], drifts[2 * k + 2]
        k1 = rhs(m0, cov)
        k2 = rhs(m_half, cov + h / 2 * k1)
        k3 = rhs(m_half, cov + h / 2 * k2)
        k4 = rhs(m1, cov + h * k3)
        out[k + 1] = cov + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


def cld_generative_covariances(
    gamma: float = 3.0, T: float = 14.0, data_var: float = 0.25, steps: int = 4000
) -> dict[str, np.ndarray]:
    """Covariance of (a, p) along generative time tau, Gaussian data N(0, data_var), exact scores.

    Deterministic (the Lyapunov ODE of each linear generative SDE, RK4 with ``steps`` steps):
    ``"target"``: the forward marginal C(T - tau); ``"exact"``: the exact reversal
    -A X + B B^T grad log p (momentum score of the joint density) from C(T); ``"paper"``: Eqs.
    10-11, da = p, dp = -gamma p + s(a, T - tau) + noise (exact position score -a / C_11), from the
    paper's prior diag(sigma_CLD^2(T), 1); ``"misplaced"``: the position score put where the
    momentum score belongs. Returns arrays (steps + 1, 2, 2) and the grid ``"tau"``.
    """
    check_positive(gamma=gamma, T=T, data_var=data_var)
    sde = sdes.get("cld", gamma=gamma, T=T)
    drift_matrix = np.array([[0.0, 1.0], [0.0, -gamma]])
    noise = np.diag([0.0, 2.0 * gamma])
    half_taus = np.linspace(0.0, T, 2 * steps + 1)
    times = torch.as_tensor(np.clip(T - half_taus, 0.0, T))
    expm = _as_numpy(sde.expm_A(times))
    s11, s12, s22 = (_as_numpy(v) for v in sde.kernel_cov(times))
    kernel = np.stack([np.stack([s11, s12], -1), np.stack([s12, s22], -1)], -2)
    forward = expm @ np.diag([data_var, 1.0]) @ np.swapaxes(expm, -1, -2) + kernel
    inverse_var = 1.0 / forward[:, 0, 0]
    exact = -drift_matrix - noise @ np.linalg.inv(forward)
    paper = np.zeros_like(forward)
    paper[:, 0, 1], paper[:, 1, 0], paper[:, 1, 1] = 1.0, -inverse_var, -gamma
    misplaced = np.zeros_like(forward)
    misplaced[:, 0, 1], misplaced[:, 1, 0], misplaced[:, 1, 1] = (
        -1.0,
        -2 * gamma * inverse_var,
        gamma,
    )
    h = T / steps
    paper_prior = np.diag([float(sde.sigma2(T)), 1.0])
    return {
        "tau": half_taus[::2],
        "target": forward[::2],
        "exact": _lyapunov_path(exact, noise, forward[0], h),
        "paper": _lyapunov_path(paper, noise, paper_prior, h),
        "misplaced": _lyapunov_path(misplaced, noise, forward[0], h),
    }

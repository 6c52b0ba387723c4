"""DDIM (Song, Meng & Ermon 2021): the exponential integrator of a first-order process's
probability-flow ODE, for kernels x_t = m(t) x_0 + s(t) eps (VP, VE, VP-EDM).

Written in y = x/m and the noise level sigma = s/m, the probability-flow ODE of such a process is
dy/dsigma = (y - D)/sigma with D = E[x_0 | x_t] = (x + s^2 score)/m (Tweedie). Holding D fixed over
a step integrates it exactly:

    x' = m' D + s' (x - m D)/s

the DDIM step with eta = 0: the predicted noise (x - m D)/s is carried to the next noise level.
It is Euler in sigma on y, VE-EDM's "euler" step in the coordinates of the process (for VE, m = 1,
the two are the same step). It is exact in one step when D does not depend on sigma (a single
data point), and of first order otherwise. At few steps it narrows the samples toward D's mean
(N(0, 0.5^2) data come out with standard deviation 0.36 after 10 steps on VP-EDM's rho = 7 grid).
On the trained VP-EDM policies 10 DDIM steps succeed more often than 25 Heun steps in t
(figures/recipe_ablation.md).
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.sdes.kernel import IsotropicKernelSDE
from course_lib.solvers.diffusion import ScoreFn, call_score


def ddim_step(
    sde: IsotropicKernelSDE, score_fn: ScoreFn, x: Tensor, t: float, t_next: float
) -> Tensor:
    """x' = m' D + s' (x - m D)/s with D = (x + s^2 score(x, t))/m.

    The four coefficients come from one evaluation of m and s at (t, t'), and D is Tweedie's
    ``sde.x0_from_score`` written with them (calling it would evaluate m and s at t again): at
    batch 1 the step's cost is its scalar arithmetic, not the chunk's (13 ms a VP-EDM chunk
    against 15-18 ms with separate evaluations).
    """
    times = torch.tensor([t, t_next], dtype=torch.float64)
    (m, m_next), (s, s_next) = sde.mean_coeff(times).tolist(), sde.std(times).tolist()
    d = (x + s**2 * call_score(sde, score_fn, x, t)) / m
    return m_next * d + (s_next / s) * (x - m * d)

"""DDIM (Song, Meng & Ermon 2021): the exponential integrator of a first-order process's
probability-flow ODE, for kernels x_t = m(t) x_0 + s(t) eps (VP, VE, VP-EDM).

Written in y = x/m and the noise level sigma = s/m, the probability-flow ODE of such a process is
dy/dsigma = (y - D)/sigma with D = E[x_0 | x_t] = (x + s^2 score)/m (Tweedie). Holding D fixed over
a step integrates it exactly:

    x' = m' D + s' (x - m D)/s

the DDIM step with eta = 0: the predicted noise (x - m D)/s is carried to the next noise level.
It is Euler in sigma on y, VE-EDM's "euler" step in the coordinates of the process (for VE, m = 1,
the two are the same step). It is exact in one step when D does not depend on sigma (a single
data point), and of first order otherwise; the linear drift that curves VP's ODE in t is
integrated exactly, so 10 steps on the rho = 7 grid sample VP-EDM where Euler in t needs 25.
"""

from __future__ import annotations

from torch import Tensor

from course_lib.sdes.kernel import IsotropicKernelSDE
from course_lib.solvers.diffusion import ScoreFn, call_score


def ddim_step(
    sde: IsotropicKernelSDE, score_fn: ScoreFn, x: Tensor, t: float, t_next: float
) -> Tensor:
    """x' = m' D + s' (x - m D)/s with D = (x + s^2 score(x, t))/m."""
    d = sde.x0_from_score(x, call_score(sde, score_fn, x, t), t)
    m, s = float(sde.mean_coeff(t)), float(sde.std(t))
    m_next, s_next = float(sde.mean_coeff(t_next)), float(sde.std(t_next))
    return m_next * d + (s_next / s) * (x - m * d)

# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Itô calculus: Brownian motion, Itô's lemma, the Ornstein-Uhlenbeck process
#
# Every process of the course is an Itô diffusion
#
# $$ d\mathbf a_t = f(\mathbf a_t, t)\,dt + g(t)\,d\mathbf W_t . $$
#
# This notebook builds the three tools the rest of the course leans on: Brownian motion and its
# quadratic variation, Itô's lemma (the chain rule with a second-order correction), and the
# Ornstein-Uhlenbeck (OU) process, the simplest mean-reverting diffusion and the template of the VP
# SDE. Each derivation is done by `sympy` in `course_lib.symbolic` and ends in an `assert`; each
# figure is a function of `course_lib.plots.calculus` that the tests also call.

# %%
import sympy as sp
from IPython.display import display
from sympy.stats import E, Normal, variance

from course_lib import symbolic
from course_lib.exercises import check
from course_lib.plots import calculus as figs
from course_lib.plots import save_figure
from course_lib.symbolic import core as sym
from course_lib.widgets import calculus as apps

# %% [markdown]
# ## 1. Brownian motion
#
# A standard Brownian motion $W_t$ starts at $0$, has independent increments and
# $W_t - W_s \sim \mathcal N(0, t - s)$. Its paths are continuous but nowhere differentiable: over a
# step $\Delta t$ the increment is of size $\sqrt{\Delta t}$, not $\Delta t$. Summing squared
# increments over a partition of $[0, t]$ gives the **quadratic variation**
#
# $$ [W]_t = \lim_{\Delta t\to 0} \sum_k (\Delta W_k)^2 = t , $$
#
# because each term has mean $\Delta t$ and variance $2\Delta t^2$, so the sum has mean $t$ and a
# variance $2 t\,\Delta t \to 0$. This is the rule $dW_t^2 = dt$ behind everything that follows.

# %%
dt = sp.Symbol("Delta_t", positive=True)
increment = Normal("Delta_W", 0, sp.sqrt(dt))
mean_sq, var_sq = sp.simplify(E(increment**2)), sp.simplify(variance(increment**2))
display(sp.Eq(sp.Symbol("E[(ΔW)^2]"), mean_sq), sp.Eq(sp.Symbol("Var[(ΔW)^2]"), var_sq))
assert mean_sq == dt and sp.simplify(var_sq - 2 * dt**2) == 0

# %% [markdown]
# ### Exercise `01.quadratic-variation-variance` · how fast the randomness goes
#
# Split $[0, t]$ into $K$ steps of size $t/K$. What is the variance of $\sum_{k=1}^K (\Delta W_k)^2$?
# Answer with a sympy expression in `t` (positive) and `K` (a positive integer), assign it to
# `qv_variance` and run the check cell below it. A wrong answer gets a hint; `hint(id, 1)` from
# `course_lib.exercises` prints the next one.

# %% tags=["solution"]
t_end = sp.Symbol("t", positive=True)
K = sp.Symbol("K", positive=True, integer=True)
# ---- solution ----
squared_increment = Normal("dW_k", 0, sp.sqrt(t_end / K)) ** 2
qv_variance = sp.simplify(K * variance(squared_increment))

# %%
verdict = check("01.quadratic-variation-variance", qv_variance)

# %%
fig = figs.brownian_figure(n_paths=30, steps=1000, seed=0)
save_figure(fig, "01_brownian.png")
fig

# %% [markdown]
# ## 2. Itô's lemma
#
# For $dX = \mu\,dt + \sigma\,dW$ and a smooth $\varphi(X, t)$, expand to second order and keep the
# terms of order $dt$, using $dW^2 = dt$, $dt\,dW = dt^2 = 0$:
#
# $$ d\varphi = \Big(\partial_t\varphi + \mu\,\partial_x\varphi + \tfrac12\sigma^2\partial_{xx}\varphi\Big)dt
#    + \sigma\,\partial_x\varphi\, dW . $$
#
# In $n$ dimensions with $dX = \mu\,dt + \Sigma\,dW$ the correction is
# $\tfrac12\operatorname{tr}(\Sigma\Sigma^\top \nabla^2\varphi)$.
# `symbolic.ito_lemma(phi, state, t, drift, diffusion)` implements exactly this. Two classics:
#
# * $d(W_t^2) = dt + 2W_t\,dW_t$: the $dt$ is the quadratic variation, so $W_t^2 - t$ is a martingale.
# * Geometric Brownian motion $dX = mX\,dt + vX\,dW$: $d\log X = (m - v^2/2)\,dt + v\,dW$.

# %%
W = sp.Symbol("W", real=True)
d_w2 = symbolic.ito_lemma(W**2, W, sym.t, 0, 1)
display(d_w2.drift, d_w2.diffusion[0, 0])
assert d_w2.drift == 1 and d_w2.diffusion[0, 0] == 2 * W
for result in (symbolic.ito_w_squared(), symbolic.ito_gbm_log()):
    print(f"{result.name}: {result.statement} -> {result.ok}")
    assert result.ok

# %% [markdown]
# ### Exercise `01.ito-w-cubed` · Itô's lemma on $W^3$
#
# Find the $dt$ coefficient of $d(W_t^3)$, a sympy expression in `W` (real): by hand first, then
# with `symbolic.ito_lemma` if you like.

# %% tags=["solution"]
W = sp.Symbol("W", real=True)
# ---- solution ----
w_cubed_drift = symbolic.ito_lemma(W**3, W, sym.t, 0, 1).drift

# %%
verdict = check("01.ito-w-cubed", w_cubed_drift)

# %% [markdown]
# On a single simulated path the identity is exact before the limit: with left-point sums
# $I_t = \sum_k W_{t_k}\Delta W_k$ one has $W_t^2 = 2 I_t + \sum_k (\Delta W_k)^2$, and the last sum
# is the quadratic variation, close to $t$. The Itô integral alone misses $W_t^2$ by $t$.

# %%
fig = figs.ito_lemma_figure(steps=2000, seed=1)
save_figure(fig, "01_ito_lemma.png")
fig

# %% [markdown]
# ## 3. The Ornstein-Uhlenbeck process
#
# $$ dX_t = -\theta X_t\,dt + \sigma\,dW_t, \qquad X_0 = x_0 . $$
#
# Itô's lemma on $X$ and on $X^2$, then expectations (the $dW$ terms have mean zero), give the moment
# ODEs $m' = -\theta m$ and $q' = -2\theta q + \sigma^2$ for $m = E[X_t]$, $q = E[X_t^2]$. `sympy`'s
# `dsolve` solves them:
#
# $$ E[X_t] = x_0 e^{-\theta t}, \qquad \operatorname{Var}[X_t] = \frac{\sigma^2}{2\theta}\big(1 - e^{-2\theta t}\big)
#    \;\xrightarrow[t\to\infty]{}\; \frac{\sigma^2}{2\theta} . $$
#
# The process forgets $x_0$ exponentially fast and settles in $\mathcal N(0, \sigma^2/2\theta)$.
# Since the SDE is linear with additive noise, $X_t$ is Gaussian, so these two moments are its law.

# %%
ou = symbolic.ou_moments()
display(
    sp.Eq(sp.Symbol("E[X_t]"), ou.exprs["mean"]), sp.Eq(sp.Symbol("Var[X_t]"), ou.exprs["variance"])
)
assert ou.ok, ou.statement

# %% [markdown]
# ### Exercise `01.ou-second-moment` · the second moment
#
# For the OU process started at $X_0 = x_0$, give $E[X_t^2]$ as a sympy expression in `theta`,
# `sigma` (positive), `x_0` (real) and `t` (non-negative).

# %% tags=["solution"]
theta, sigma = sp.symbols("theta sigma", positive=True)
x_0 = sp.Symbol("x_0", real=True)
t = sp.Symbol("t", nonnegative=True)
# ---- solution ----
q = sp.Function("q")
second_moment_ode = sp.Eq(q(t).diff(t), -2 * theta * q(t) + sigma**2)
ou_second_moment = sp.dsolve(second_moment_ode, q(t), ics={q(0): x_0**2}).rhs

# %%
verdict = check("01.ou-second-moment", ou_second_moment)

# %% [markdown]
# The slider draws Euler-Maruyama paths against the exact band $E[X_t] \pm 2\sqrt{\operatorname{Var}X_t}$
# (the sympy result above, lambdified) and compares the paths at the horizon with the exact law.
# Try a large $\theta$ (fast forgetting) and a small one (slow drift towards 0).

# %%
apps.ou_widget()

# %% [markdown]
# ### Exercise `01.ou-em-step` · one Euler-Maruyama step
#
# Write `ou_em_step(x, dt, theta, sigma, z)`: the Euler-Maruyama update of
# $dX = -\theta X\,dt + \sigma\,dW$ over a step `dt`, with `z` standard normal draws of the shape
# of `x` (numpy arrays). The check compares it with the exact update and measures how your noise
# term scales with `dt`.

# %% tags=["solution"]
import numpy as np

# ---- solution ----


def ou_em_step(x, dt, theta, sigma, z):
    """x + (-theta x) dt + sigma sqrt(dt) z."""
    return x - theta * x * dt + sigma * np.sqrt(dt) * z


# %%
verdict = check("01.ou-em-step", ou_em_step)

# %%
fig = figs.ou_figure(theta=1.0, sigma=0.5, x0=2.0, n_paths=400, seed=0)
save_figure(fig, "01_ou_paths.png")
fig

# %% [markdown]
# ## 4. Towards the VP SDE: an integrating factor
#
# The VP SDE of the paper (Eq. 3), $d\mathbf a_t = -\tfrac12\beta(t)\mathbf a_t\,dt + \sqrt{\beta(t)}\,d\mathbf W_t$,
# is an OU process whose rate changes in time. Appendix B.0.2 solves it with the integrating factor
# $Y_t = e^{\alpha(t)}\mathbf a_t$, $\alpha(t) = \tfrac12\int_0^t\beta(s)\,ds$: by Itô's lemma the drift of
# $Y$ vanishes, $dY_t = e^{\alpha(t)}\sqrt{\beta(t)}\,dW_t$, for any schedule $\beta$. Notebook 02 takes it
# from there.

# %%
factor = symbolic.vp_integrating_factor()
display(factor.exprs["drift"], factor.exprs["diffusion"])
assert factor.ok and factor.exprs["drift"] == 0

# %% [markdown]
# ## Summary
#
# * $dW^2 = dt$: quadratic variation is the source of the second-order term in Itô's lemma.
# * Itô's lemma turns an SDE for $X$ into an SDE for $\varphi(X, t)$, and expectations of it into
#   moment ODEs; for linear SDEs those ODEs determine the Gaussian law completely.
# * The OU process is the prototype of the VP SDE; with a time-varying rate it is solved by an
#   integrating factor.

# %%
checks = {
    name: ok
    for name, ok in symbolic.verify_all().items()
    if name.startswith(("ito", "ou", "vp_int"))
}
print(checks)
assert all(checks.values())

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
# # 05 · Reverse time and the probability-flow ODE
#
# Generation runs a forward SDE backwards. Two facts make that possible (paper, Appendix A):
#
# * **Anderson's theorem** (Theorem 1): the time reversal of $d\mathbf a = f\,dt + g\,d\mathbf W$ is again a
#   diffusion, $d\mathbf a = [f - g^2\nabla\log p_t]\,dt + g\,d\bar{\mathbf W}$ run from $T$ to $0$.
# * **The probability-flow ODE** (Eq. 15): the deterministic $\dot{\mathbf a} = f - \tfrac12 g^2\nabla\log p_t$
#   has the same marginals $p_t$.
#
# Both follow from the Fokker-Planck equation, which sympy checks below. We then sample a 2-D
# mixture with its exact score, so that every error you see is the solver's, and measure the orders
# of convergence of Euler, Heun and Euler-Maruyama.

# %%
import torch
from IPython.display import display

from course_lib import config, sdes, solvers, symbolic, toy
from course_lib.analysis import gaussian
from course_lib.analysis.samplers import SamplerSpec, toy_run
from course_lib.exercises import check
from course_lib.plots import reverse as rfigs
from course_lib.plots import save_figure
from course_lib.widgets import calculus as apps

torch.set_num_threads(1)  # the toy problems below are tiny: one thread avoids threading overhead

# %% [markdown]
# ## 1. Fokker-Planck
#
# The density of $d\mathbf a = f(\mathbf a, t)\,dt + g(t)\,d\mathbf W$ evolves by
#
# $$ \partial_t p_t = -\nabla\cdot(f\,p_t) + \tfrac12 g^2\,\Delta p_t . $$
#
# For a linear SDE $dx = -k(t)x\,dt + g(t)\,dW$ the Gaussian $\mathcal N(m(t), v(t))$ solves it exactly when
# $m' = -km$ and $v' = -2kv + g^2$: the moment ODEs of notebook 01 are all of Fokker-Planck in the
# linear case.

# %%
fp = symbolic.fokker_planck_gaussian()
print(fp.statement)
assert fp.ok and fp.exprs["residual"] == 0

# %% [markdown]
# ### Exercise `05.gaussian-score` · the score of a Gaussian
#
# Give $\nabla_x \log\mathcal N(x; \mu, v)$ as a sympy expression in `x`, `mu` (real) and `v` (the
# variance, positive). A wrong answer gets a hint; `hint(id, 1)` from `course_lib.exercises`
# prints the next one.

# %% tags=["solution"]
import sympy as sp

x, mu = sp.symbols("x mu", real=True)
v = sp.Symbol("v", positive=True)
# ---- solution ----
log_density = -((x - mu) ** 2) / (2 * v) - sp.log(2 * sp.pi * v) / 2
gaussian_score = sp.diff(log_density, x)

# %%
verdict = check("05.gaussian-score", gaussian_score)

# %% [markdown]
# ## 2. The probability-flow ODE (Appendix A.2)
#
# A deterministic flow $\dot{\mathbf a} = v(\mathbf a, t)$ transports densities by the continuity equation
# $\partial_t p = -\nabla\cdot(v\,p)$. Since $\tfrac12 g^2\Delta p = \nabla\cdot(\tfrac12 g^2 p\,\nabla\log p)$, the choice
# $v = f - \tfrac12 g^2\nabla\log p_t$ turns continuity into Fokker-Planck, for **any** density (sympy
# proves it with an undefined function $p(x, t)$). The factor $\tfrac12$ matters: keeping the full
# reverse drift $f - g^2\nabla\log p$ and only deleting the noise misses Fokker-Planck by
# $-\tfrac12 g^2\Delta p$. That is what the paper's "deterministic" CLD sampler does (Section 3.4.1:
# "removing the noise term from the generative SDE"); for VP and VE the paper uses the correct $\tfrac12$.

# %%
pf, dropped = (
    symbolic.probability_flow_continuity(),
    symbolic.dropped_noise_is_not_probability_flow(),
)
display(pf.exprs["velocity"], dropped.exprs["extra_residual"])
assert pf.ok and dropped.ok

# %% [markdown]
# ### Exercise `05.vp-pf-velocity` · the VP probability flow
#
# For the VP SDE ($f = -\tfrac12\beta x$, $g^2 = \beta$) write the probability-flow velocity as a sympy
# expression in `beta` (positive), `x` and `score` (real).

# %% tags=["solution"]
import sympy as sp

beta = sp.Symbol("beta", positive=True)
x, score = sp.symbols("x score", real=True)
# ---- solution ----
f, g_squared = -beta * x / 2, beta
pf_velocity = f - g_squared * score / 2

# %%
verdict = check("05.vp-pf-velocity", pf_velocity)

# %% [markdown]
# ### Exercise `05.reverse-drift` · before section 3
#
# For $dx = -k x\,dt + g\,dW$ ($k, g > 0$) the reverse SDE in $\tau = T - t$ is $dx = b\,d\tau + g\,dW$.
# Give $b$ as a sympy expression in `k`, `g`, `x` and `score` (the score of $p_{T-\tau}$ at $x$).

# %% tags=["solution"]
import sympy as sp

k, g = sp.symbols("k g", positive=True)
x, score = sp.symbols("x score", real=True)
# ---- solution ----
forward_drift = -k * x
reverse_drift = -forward_drift + g**2 * score

# %%
verdict = check("05.reverse-drift", reverse_drift)

# %% [markdown]
# ## 3. Anderson's theorem (Theorem 1)
#
# In reversed time $\tau = T - t$, $q_\tau = p_{T-\tau}$ should solve the Fokker-Planck equation of
# $d\mathbf a = [-f + g^2\nabla\log p_{T-\tau}]\,d\tau + g\,d\mathbf W$. Sympy shows that the reverse residual is
# exactly minus the forward residual at $t = T - \tau$: the reverse SDE keeps the marginals if and
# only if the forward one does. The $g^2\nabla\log p$ term is twice the probability-flow correction: one
# half undoes the forward diffusion, the other half compensates the new noise $g\,d\mathbf W$.

# %%
reverse = symbolic.reverse_sde_marginals()
display(reverse.exprs["reverse_drift"])
assert reverse.ok

# %% [markdown]
# ## 4. An exact-score toy in 2-D
#
# `course_lib.toy.three_mode_2d()` is a mixture of three anisotropic Gaussians. Under a kernel
# $\mathcal N(m(t)\mathbf x_0, s(t)^2\mathbf I)$ every marginal $p_t$ is again a mixture, so $\nabla\log p_t$ is known in
# closed form and the samplers of `course_lib.solvers` can run without a network. Left: trajectories
# from the prior; right: samples over the data density. Try Euler with few steps on VE (notebook 03),
# Euler-Maruyama with few steps (noisy, blurred modes), Heun with 20 steps (already sharp).

# %%
apps.reverse_toy_widget()

# %%
for solver, steps in (("em", 200), ("heun", 50)):
    run = toy_run(
        SamplerSpec(solver, "vp", solver),
        steps,
        target="three-mode-2d",
        n_samples=1000,
        return_path=True,
    )
    fig = rfigs.reverse_toy_figure(run)
    save_figure(fig, f"05_toy_2d_vp_{solver}.png")
    display(fig)

# %% [markdown]
# On the 1-D two-mode mixture (weights 0.3 / 0.7) the same samplers recover the weight of the left
# mode and the whole law (1-D Wasserstein distance to the course's one exact reference draw of the
# data, `toy.reference_draw`, the draw notebook 10 measures against too):

# %%
vp = sdes.get("vp")
n_samples = 4000 if config.FAST else 20000
results = {}
for solver, steps in (("heun", 50), ("em", 500)):
    x = toy.sample(vp, solver, steps, target="two-mode", n_samples=n_samples, seed=0)
    results[solver] = (float((x < 0).double().mean()), toy.w1_to_reference(x))
    print(
        f"{solver:>5}, {steps} steps: left weight {results[solver][0]:.3f}, W1 {results[solver][1]:.3f}"
    )
assert all(abs(left - 0.3) < 0.03 and w1 < 0.05 for left, w1 in results.values())

# %% [markdown]
# The probability-flow ODE is a bijection: encoding data to $T$ and decoding back with Heun returns
# the starting points.

# %%
x0 = toy.three_mode_2d().sample(
    200, generator=torch.Generator().manual_seed(2), dtype=torch.float64
)
score_2d = toy.three_mode_2d().score_fn(vp)
up = torch.linspace(vp.t_eps, vp.T, 501, dtype=torch.float64)
encoded = solvers.probability_flow(vp, score_2d, x0, up, method="heun")
decoded = solvers.probability_flow(vp, score_2d, encoded, up.flip(0), method="heun")
round_trip = float((decoded - x0).abs().max())
print(f"max round-trip error with 500 Heun steps: {round_trip:.1e}")
assert round_trip < 1e-3

# %% [markdown]
# ## 5. Orders of convergence
#
# For Gaussian data $\mathcal N(0, s^2)$ the probability-flow solution is exactly
# $\mathbf x_{\epsilon} = \sqrt{v_\epsilon/v_T}\,\mathbf x_T$ with $v_t = m(t)^2 s^2 + s(t)^2$, and every solver step is
# linear, so the global error can be measured without sampling: Euler is first order, Heun second. For
# Euler-Maruyama the variance obeys an exact linear recursion; its weak error is first order.

# %%
steps_list = (16, 32, 64, 128) if config.FAST else (16, 32, 64, 128, 256, 512)
errors = gaussian.convergence_errors("vp", steps_list)
orders = {s: toy.convergence_order(steps_list, errors[s]) for s in ("euler", "heun", "em")}
print({k: round(v, 2) for k, v in orders.items()})
assert 0.8 <= orders["euler"] <= 1.2 and 1.8 <= orders["heun"] <= 2.2 and 0.8 <= orders["em"] <= 1.2

# %% [markdown]
# ### Exercise `05.heun-step` · Heun's predictor-corrector
#
# Write `heun_step(velocity, x, t, t_next)`: one Heun step of $dx/dt = $ `velocity(x, t)` from `t` to
# `t_next` (`t_next < t` when sampling). The check runs it on the VP toy with Gaussian data, where
# the exact answer is known, and measures its order of convergence: 2 is expected.


# %% tags=["solution"]
def heun_step(velocity, x, t, t_next):
    """x~ = x + F(x, t) dt, x' = x + dt/2 (F(x, t) + F(x~, t_next))."""
    dt = t_next - t
    v_start = velocity(x, t)
    x_predicted = x + dt * v_start
    return x + 0.5 * dt * (v_start + velocity(x_predicted, t_next))


# %%
verdict = check("05.heun-step", heun_step)

# %% [markdown]
# ### Exercise `05.em-step` · Euler-Maruyama on the reverse SDE
#
# Write `em_step(x, t, t_next, score, z)` for the course's VP SDE: one Euler-Maruyama step of the
# reverse SDE from `t` to `t_next < t`, given the score at `(x, t)` and standard normal noise `z`
# (tensors of the shape of `x`; `vp.beta(t)` gives $\beta(t)$). The check compares it with
# `solvers.em_step` and, if it differs, measures the weak order of your step.

# %% tags=["solution"]
vp = sdes.get("vp")
# ---- solution ----


def em_step(x, t, t_next, score, z):
    """x + [f - g^2 score] dt + g sqrt(|dt|) z with dt = t_next - t < 0."""
    dt = t_next - t
    beta_t = float(vp.beta(t))
    drift = -0.5 * beta_t * x - beta_t * score
    return x + drift * dt + (beta_t * abs(dt)) ** 0.5 * z


# %%
verdict = check("05.em-step", em_step)

# %%
fig = rfigs.convergence_order_figure(errors, "vp")
save_figure(fig, "05_convergence_orders.png")
fig

# %% [markdown]
# ## Summary
#
# * Fokker-Planck is the common ground: the probability-flow ODE transports $p_t$ with velocity
#   $f - \tfrac12 g^2\nabla\log p_t$, the reverse SDE with drift $f - g^2\nabla\log p_t$ plus fresh noise.
# * Deleting the noise from the reverse SDE without halving the score term is not a valid sampler.
# * With exact scores the samplers converge at their textbook orders; with a network, the score error
#   is added on top (notebooks 07-09).

# %%
checks = {
    k: v
    for k, v in symbolic.verify_all().items()
    if k in symbolic.PAPER_ERRATA or "flow" in k or "planck" in k or "reverse" in k
}
print(checks)
assert all(checks.values())

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
# # 02 · The variance-preserving (VP) SDE
#
# $$ d\mathbf a_t = -\tfrac12\beta(t)\,\mathbf a_t\,dt + \sqrt{\beta(t)}\,d\mathbf W_t \qquad \text{(paper, Eq. 3)} $$
#
# We derive it as the limit of DDPM's discrete noising (Appendix B.0.1), solve it exactly
# (B.0.2), turn its kernel into the noise-prediction loss (B.0.3), and study the cosine schedule the
# paper uses, including a floating-point trap at $t = 1$. Numbers come from `course_lib.sdes`, the
# same code that trains the policies; sympy checks that they are the formulas.

# %%
import numpy as np
import sympy as sp
import torch
from IPython.display import display

from course_lib import sdes, symbolic
from course_lib.exercises import check
from course_lib.plots import calculus as figs
from course_lib.plots import save_figure
from course_lib.symbolic import core as sym
from course_lib.widgets import calculus as apps

vp = sdes.get("vp")
print(vp, "s =", vp.s)

# %% [markdown]
# ## 1. From DDPM to an SDE (Appendix B.0.1)
#
# DDPM noises in $K$ discrete steps, $\mathbf a_{k+1} = \sqrt{1-\beta_k}\,\mathbf a_k + \sqrt{\beta_k}\,\boldsymbol\epsilon_k$.
# Put $\beta_k = \beta(t_k)\,h$ with step $h$ and expand $\sqrt{1 - \beta h} = 1 - \tfrac12\beta h + O(h^2)$.
# The increment then has mean $-\tfrac12\beta\,\mathbf a\,h + O(h^2)$ and variance $\beta h$, exactly
# the Euler-Maruyama step of Eq. 3 with $\epsilon_k\sqrt h = \Delta W_k$. The discrete signal level
# $\prod_k (1 - \beta_k)$ tends to $\bar\alpha(t) = e^{-\int_0^t\beta}$ (for constant $\beta$:
# $(1 - \beta t/K)^K \to e^{-\beta t}$).

# %%
limit = symbolic.vp_ddpm_limit()
for key, value in limit.exprs.items():
    display(sp.Eq(sp.Symbol(key), value))
assert limit.ok, limit.statement

# %% [markdown]
# ### Exercise `02.ddpm-second-order` · the next term
#
# $\sqrt{1 - \beta h} = 1 - \tfrac12\beta h + c\,h^2 + O(h^3)$: find $c$, a sympy expression in `beta`
# (positive). Assign it to `ddpm_c` and run the check below. A wrong answer gets a hint; `hint(id, 1)`
# from `course_lib.exercises` prints the next one.

# %% tags=["solution"]
beta, h = sp.symbols("beta h", positive=True)
# ---- solution ----
ddpm_c = sp.series(sp.sqrt(1 - beta * h), h, 0, 3).removeO().coeff(h, 2)

# %%
verdict = check("02.ddpm-second-order", ddpm_c)

# %% [markdown]
# The same convergence with the cosine schedule, measured on the code's $\beta(t)$: the largest gap
# between DDPM's product and $\bar\alpha(t_k)$ falls like $1/K$ (first order).

# %%
fig = figs.ddpm_limit_figure(T=0.98)
save_figure(fig, "02_ddpm_limit.png")
fig

# %% [markdown]
# ## 2. The exact kernel (Appendix B.0.2)
#
# With $Y_t = e^{\alpha(t)}\mathbf a_t$, $\alpha = \tfrac12\int_0^t\beta$, Itô's lemma removed the drift
# (notebook 01), so $\mathbf a_t = e^{-\alpha(t)}\mathbf a_0 + \int_0^t e^{-(\alpha(t) - \alpha(s))}\sqrt{\beta(s)}\,dW_s$.
# By Itô's isometry the variance is $\int_0^t e^{-(B(t) - B(s))}\beta(s)\,ds$ with $B = \int_0^t\beta$;
# the integrand is $\frac{d}{ds}e^{-(B(t) - B(s))}$, so the integral telescopes:
#
# $$ \mathbf a_t \mid \mathbf a_0 \sim \mathcal N\big(\sqrt{\bar\alpha_t}\,\mathbf a_0,\ (1 - \bar\alpha_t)\mathbf I\big),
#    \qquad \bar\alpha_t = e^{-\int_0^t\beta(s)ds} . $$
#
# Independently, the moment ODEs $m' = -\tfrac12\beta m$, $v' = -\beta v + \beta$ solved by `dsolve`
# for an arbitrary schedule $\beta$ give the same mean and variance.

# %%
isometry, moments = symbolic.vp_kernel_ito_isometry(), symbolic.vp_kernel_moment_odes()
display(moments.exprs["mean"], moments.exprs["variance"])
assert isometry.ok and moments.ok
assert sp.simplify(isometry.exprs["variance"] - moments.exprs["variance"]) == 0

# %% [markdown]
# Because the kernel is exact, training never integrates $\beta$ numerically: `sdes` evaluates
# $\log\bar\alpha(t)$ in closed form. Check the code against the derived kernel with the cosine
# $\beta$ substituted into the generic formula:

# %%
cosine_beta_expr = symbolic.vp_cosine_schedule().exprs["beta"]
generic_var = moments.exprs["variance"].replace(
    symbolic.vp.beta_fn, sp.Lambda(sym.r, cosine_beta_expr.subs(sym.t, sym.r))
)
var_fn = sp.lambdify(sym.t, generic_var.doit().subs(sym.s, vp.s), "numpy")
times = torch.linspace(0.01, vp.T, 50, dtype=torch.float64)
_, std = vp.marginal(torch.ones(50, 1, dtype=torch.float64), times)
gap = np.max(np.abs(std[:, 0].numpy() ** 2 - var_fn(times.numpy())))
print(f"max |code variance - sympy variance| = {gap:.2e}")
assert gap < 1e-10

# %% [markdown]
# ### Exercise `02.vp-kernel-variance` · the linear schedule
#
# DDPM's original schedule is linear, $\beta(t) = \beta_{\min} + (\beta_{\max} - \beta_{\min})\,t$. Give
# $\operatorname{Var}(\mathbf a_t \mid \mathbf a_0)$ as a sympy expression in `beta_min`, `beta_max`
# (positive) and `t` (non-negative).

# %% tags=["solution"]
beta_min, beta_max = sp.symbols("beta_min beta_max", positive=True)
t = sp.Symbol("t", nonnegative=True)
# ---- solution ----
linear_beta = beta_min + (beta_max - beta_min) * sym.r
vp_linear_variance = 1 - sp.exp(-sp.integrate(linear_beta, (sym.r, 0, t)))

# %%
verdict = check("02.vp-kernel-variance", vp_linear_variance)

# %% [markdown]
# ## 3. Score, noise and the loss (Appendix B.0.3)
#
# The conditional score is $\nabla\log p(\mathbf a_t\mid\mathbf a_0) = -(\mathbf a_t - \sqrt{\bar\alpha_t}\mathbf a_0)/(1 - \bar\alpha_t)$;
# with $\mathbf a_t = \sqrt{\bar\alpha_t}\mathbf a_0 + \sqrt{1 - \bar\alpha_t}\,\boldsymbol\epsilon$ it is
# $-\boldsymbol\epsilon/\sqrt{1 - \bar\alpha_t}$. Writing the network as $s_\theta = -\epsilon_\theta/\sqrt{1 - \bar\alpha_t}$,
# the score-matching error is $\|\boldsymbol\epsilon - \epsilon_\theta\|^2/(1 - \bar\alpha_t)$: the
# $\epsilon$-loss of Eq. 17 is score matching with the weight $\lambda(t) = 1 - \bar\alpha_t$.

# %%
score, reweight = symbolic.vp_conditional_score(), symbolic.vp_eps_loss_reweighting()
display(score.exprs["score_in_eps"], reweight.exprs["weight"])
assert score.ok and reweight.ok

# %% [markdown]
# ### Exercise `02.vp-denoiser` · back from the noise
#
# With $\mathbf a_t = \sqrt{\bar\alpha}\,\mathbf a_0 + \sqrt{1 - \bar\alpha}\,\boldsymbol\epsilon$, express $\mathbf a_0$
# through `a_t`, `epsilon` (real) and `abar` ($0 < \bar\alpha < 1$). With the network's $\epsilon_\theta$ in
# place of $\boldsymbol\epsilon$ this is the denoised guess a sampler can end with.

# %% tags=["solution"]
a_t, epsilon = sp.symbols("a_t epsilon", real=True)
abar = sp.Symbol("abar", positive=True)
# ---- solution ----
a_0 = sp.Symbol("a_0", real=True)
kernel_draw = sp.Eq(a_t, sp.sqrt(abar) * a_0 + sp.sqrt(1 - abar) * epsilon)
vp_denoised = sp.solve(kernel_draw, a_0)[0]

# %%
verdict = check("02.vp-denoiser", vp_denoised)

# %% [markdown]
# ## 4. The cosine schedule
#
# Nichol and Dhariwal define the schedule through $\bar\alpha$ rather than $\beta$:
#
# $$ \bar\alpha(t) = \frac{\cos^2 u(t)}{\cos^2 u(0)}, \quad u(t) = \frac{t + s}{1 + s}\frac\pi2, \qquad
#    \beta(t) = -\frac{d}{dt}\log\bar\alpha(t) = \frac{\pi}{1 + s}\tan u(t), $$
#
# with $s = 0.008$. Near $t = 1$: $\beta \sim 2/(1 - t)$ and $\bar\alpha \sim c\,(1-t)^2$ with
# $\bar\alpha(1) = 0$, so the process must stop at some $T < 1$; the course uses $T = 0.9946$
# (DPM-Solver's choice: $\bar\alpha(T) = 7\cdot10^{-5}$, $\beta(T) = 370$).

# %%
cosine, endpoint = symbolic.vp_cosine_schedule(), symbolic.vp_cosine_endpoint()
display(sp.Eq(sp.Symbol("beta"), cosine.exprs["beta"]), endpoint.exprs)
assert cosine.ok and endpoint.ok
print(f"beta(T) = {float(vp.beta(vp.T)):.1f}, alpha_bar(T) = {float(vp.alpha_bar(vp.T)):.2e}")

# %% [markdown]
# ### Exercise `02.cosine-endpoint-constant` · how $\bar\alpha$ vanishes
#
# As $t \to 1$, $\bar\alpha(t) \sim c\,(1 - t)^2$. Find $c$, a sympy expression in `s` (positive).

# %% tags=["solution"]
e = sp.Symbol("e", positive=True)  # e = 1 - t
# ---- solution ----
endpoint_c = sp.limit(symbolic.vp.cosine_alpha_bar(1 - e) / e**2, e, 0)

# %%
verdict = check("02.cosine-endpoint-constant", endpoint_c)

# %% [markdown]
# Move $s$ and $T$: $s$ sets how slowly noise starts ($\beta(0) = \frac{\pi}{1+s}\tan\frac{\pi s}{2(1+s)}$),
# $T$ how close to the singularity the process goes.

# %%
apps.vp_schedule_widget()

# %%
fig = figs.vp_schedule_figure()
save_figure(fig, "02_vp_cosine_schedule.png")
fig

# %% [markdown]
# ## 5. Marginal mean, variance and sample paths
#
# Paths from a single $\mathbf a_0$, sampled with the exact transition between grid times, stay in
# the band $\sqrt{\bar\alpha_t}\,\mathbf a_0 \pm 2\sqrt{1 - \bar\alpha_t}$ given by `sdes.marginal`.
# The variance rises from 0 to (almost) 1 while the mean decays: whatever $\mathbf a_0$, the law at
# $T$ is close to $\mathcal N(0, 1)$ (variance preserved when the data has unit variance).

# %%
apps.vp_paths_widget()

# %%
fig = figs.vp_paths_figure(x0=1.5, n_paths=200)
save_figure(fig, "02_vp_paths.png")
fig

# %% [markdown]
# ### Exercise `02.vp-perturb` · draw from the kernel
#
# Write `vp_perturb(x0, t, eps)` returning $\sqrt{\bar\alpha(t)}\,\mathbf x_0 + \sqrt{1 - \bar\alpha(t)}\,\boldsymbol\epsilon$
# for the course's VP SDE (`x0`, `eps` float64 tensors of one shape, `t` a float;
# `vp.alpha_bar(t)` gives $\bar\alpha(t)$). The check compares both coefficients with `vp.marginal`.

# %% tags=["solution"]
vp = sdes.get("vp")
# ---- solution ----


def vp_perturb(x0, t, eps):
    """sqrt(abar(t)) x0 + sqrt(1 - abar(t)) eps."""
    abar_t = vp.alpha_bar(t)
    return abar_t**0.5 * x0 + (1 - abar_t) ** 0.5 * eps


# %%
verdict = check("02.vp-perturb", vp_perturb)

# %% [markdown]
# ## 6. The float32 trap at $t = 1$
#
# In float32, $u(1) = \frac{1 + s}{1 + s}\frac\pi2$ rounds to a number just above $\pi/2$, where
# $\tan$ is hugely **negative**: $\beta(1) \approx -7\cdot10^7$. The same sympy expression evaluated in
# float64 is fine, and its float32 error grows like $10^{-7}/(1 - t)$. Hence: compute the schedule in
# float64, stop at $T < 1$, and use $\log\bar\alpha = 2(\log\cos u - \log\cos u_0)$ rather than a
# ratio of tiny cosines.

# %%
beta_one_f32 = float(figs.cosine_beta(np.array([1.0]), vp.s, np.float32)[0])
print(f"float32 beta(1) = {beta_one_f32:.3g}")
assert beta_one_f32 < 0
grid = torch.linspace(vp.t_eps, vp.T, 1001, dtype=torch.float64)
code_beta = vp.beta(grid).to(torch.float32)
assert torch.isfinite(code_beta).all() and (code_beta > 0).all()

# %%
fig = figs.float32_trap_figure()
save_figure(fig, "02_float32_trap.png")
fig

# %% [markdown]
# ## Summary
#
# * The VP SDE is DDPM with the step size sent to zero; its kernel is Gaussian in closed form.
# * The $\epsilon$-loss is score matching reweighted by $1 - \bar\alpha_t$.
# * The cosine schedule has $\beta(t) = \frac{\pi}{1+s}\tan u(t)$, which blows up at $t = 1$: stop at
#   $T = 0.9946$ and compute in float64.

# %%
checks = {k: v for k, v in symbolic.verify_all().items() if k.startswith("vp_")}
print(checks)
assert all(checks.values())

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
# # 03 · The variance-exploding (VE) SDE
#
# $$ d\mathbf a_t = \sqrt{\frac{d[\sigma^2(t)]}{dt}}\,d\mathbf W_t, \qquad
#    \sigma(t) = \sigma_{\min}\Big(\frac{\sigma_{\max}}{\sigma_{\min}}\Big)^t \qquad \text{(paper, Eq. 5)} $$
#
# No drift: the data is simply buried under more and more noise. We derive the kernel (Appendix
# C.0.1) and find an unstated assumption in it, derive the score and the loss (C.0.2), and then
# explain the paper's most striking number: deterministic VE samplers reach a coverage of about 0.10
# where the stochastic one reaches 0.52 (Table 1). The reason is the Euler step in $t$.

# %%
import sympy as sp
import torch
from IPython.display import display

from course_lib import config, sdes, solvers, symbolic
from course_lib.analysis import gaussian
from course_lib.exercises import check
from course_lib.plots import calculus as figs
from course_lib.plots import reverse as rfigs
from course_lib.plots import save_figure
from course_lib.widgets import calculus as apps

torch.set_num_threads(1)  # the toy problems below are tiny: one thread avoids threading overhead
ve = sdes.get("ve")
print(ve, f"sigma_min = {ve.sigma_min}, sigma_max = {ve.sigma_max}")

# %% [markdown]
# ## 1. The schedule
#
# With the geometric schedule, $\ln\sigma$ grows linearly at rate $L = \ln(\sigma_{\max}/\sigma_{\min})$
# ($8.5$ for $0.01 \dots 50$), and
#
# $$ g(t)^2 = \frac{d\sigma^2}{dt} = 2L\,\sigma(t)^2 . $$
#
# A side remark on C.0.2: the paper calls $\lambda(t) = g(t)^2$ the theoretically motivated
# weighting and $\lambda(t) = \sigma^2(t)$ a simpler one. For this schedule $g^2/\sigma^2 = 2L$ is a
# constant, so the two weightings have the same minimiser and differ only by the scale of the loss.

# %%
schedule, weighting = symbolic.ve_schedule(), symbolic.ve_weighting_equivalence()
display(
    sp.Eq(sp.Symbol("g^2"), schedule.exprs["g2"]),
    sp.Eq(sp.Symbol("g^2/sigma^2"), weighting.exprs["ratio"]),
)
assert schedule.ok and weighting.ok

# %% [markdown]
# ### Exercise `03.ve-g2` · $g(t)^2$ in $t$
#
# Write $g(t)^2 = d\sigma(t)^2/dt$ as a sympy expression in `sigma_min`, `sigma_max` (positive) and `t`
# (non-negative). Assign it to `ve_g2` and run the check below. A wrong answer gets a hint;
# `hint(id, 1)` from `course_lib.exercises` prints the next one.

# %% tags=["solution"]
sigma_min, sigma_max = sp.symbols("sigma_min sigma_max", positive=True)
t = sp.Symbol("t", nonnegative=True)
# ---- solution ----
ve_g2 = sp.diff((sigma_min * (sigma_max / sigma_min) ** t) ** 2, t)

# %%
verdict = check("03.ve-g2", ve_g2)

# %% [markdown]
# ### Exercise `03.ve-kernel-variance` · before reading on
#
# The SDE $d\mathbf a = g(t)\,d\mathbf W$ starts at $\mathbf a_0$ at $t = 0$. Give
# $\operatorname{Var}(\mathbf a_t \mid \mathbf a_0)$ as a sympy expression in `sigma_min`, `sigma_max` and
# `t`. (Itô's isometry: the variance of $\int_0^t g\,dW$ is $\int_0^t g^2$.)

# %% tags=["solution"]
sigma_min, sigma_max = sp.symbols("sigma_min sigma_max", positive=True)
t, r = sp.symbols("t r", nonnegative=True)
# ---- solution ----
sigma_squared = (sigma_min * (sigma_max / sigma_min) ** r) ** 2
ve_variance = sp.integrate(sp.diff(sigma_squared, r), (r, 0, t))

# %%
verdict = check("03.ve-kernel-variance", ve_variance)

# %% [markdown]
# ## 2. The kernel, and the assumption $\sigma(0) = 0$
#
# Integrating the SDE, $\mathbf a_t - \mathbf a_0 = \int_0^t g\,dW$ has mean 0 and, by Itô's isometry,
# variance $\int_0^t g^2 = \sigma^2(t) - \sigma^2(0)$. Appendix C.0.1 writes $\sigma^2(t)$, "assuming
# $\sigma(0) = 0$". The geometric schedule never satisfies that: $\sigma(0) = \sigma_{\min}$. The exact
# kernel of the SDE started at $t = 0$ is
#
# $$ \mathbf a_t\mid\mathbf a_0 \sim \mathcal N\big(\mathbf a_0, (\sigma^2(t) - \sigma_{\min}^2)\mathbf I\big) , $$
#
# and the paper's $\sigma^2(t)$ overstates it by exactly $\sigma_{\min}^2$: 22% at $t = 0.1$. (Song
# et al.'s code uses $\sigma^2(t)$ and starts the process from data already blurred by $\sigma_{\min}$
# noise; then $\sigma^2(t)$ is right. Either convention is fine; mixing them is not.)
# `course_lib.sdes` offers both: `kernel="exact"` (default) and `kernel="song"`.

# %%
kernel = symbolic.ve_kernel_variance()
display(
    sp.Eq(sp.Symbol("Var_exact"), kernel.exprs["variance"]),
    sp.Eq(sp.Symbol("paper - exact"), kernel.exprs["gap"]),
)
assert kernel.ok

# %% [markdown]
# A Monte-Carlo check with the forward simulator of `course_lib.solvers` (Euler-Maruyama, 200 steps
# on $[0, 0.1]$, 20 000 paths from $\mathbf a_0 = 0$):

# %%
n_paths = 20_000
generator = torch.Generator().manual_seed(0)
end = solvers.simulate_forward(
    ve,
    torch.zeros(n_paths, 1, dtype=torch.float64),
    torch.linspace(0.0, 0.1, 201, dtype=torch.float64),
    generator=generator,
)
exact_var = float(ve.std(0.1)) ** 2
paper_var = float(ve.sigma(0.1)) ** 2
print(f"simulated {end.var():.3e}   exact {exact_var:.3e}   paper {paper_var:.3e}")
assert abs(float(end.var()) / exact_var - 1) < 0.03 and paper_var / exact_var > 1.2

# %% [markdown]
# ### Exercise `03.ve-kernel-sampler` · draw from the exact kernel
#
# Write `ve_sample(x0, t, generator)` returning draws of $\mathbf a_t \mid \mathbf a_0 = $ `x0` for the
# course's VE SDE (`x0` a float64 tensor, `t` a float; draw the noise with
# `torch.randn(..., generator=generator)`). The check draws 200 000 samples at three times.

# %% tags=["solution"]
ve = sdes.get("ve")
# ---- solution ----


def ve_sample(x0, t, generator):
    """x0 + sqrt(sigma(t)^2 - sigma_min^2) z."""
    std = (float(ve.sigma(t)) ** 2 - ve.sigma_min**2) ** 0.5
    return x0 + std * torch.randn(x0.shape, generator=generator, dtype=x0.dtype)


# %%
verdict = check("03.ve-kernel-sampler", ve_sample)

# %% [markdown]
# The sliders move $\sigma_{\min}$ and $\sigma_{\max}$; the right panel shows by how much the paper's
# variance exceeds the exact one. The gap only matters at small $t$, which is exactly where the
# samplers end and where the score is largest.

# %%
apps.ve_schedule_widget()

# %%
fig = figs.ve_schedule_figure()
save_figure(fig, "03_ve_schedule.png")
fig

# %% [markdown]
# ## 3. Score and loss (Appendix C.0.2)
#
# For a kernel $\mathcal N(\mathbf a_0, v\mathbf I)$ the conditional score is $-(\mathbf a_t - \mathbf a_0)/v = -\boldsymbol\epsilon/\sqrt v$
# for $\mathbf a_t = \mathbf a_0 + \sqrt v\,\boldsymbol\epsilon$. With $\lambda = v$ the loss of Eq. 18 becomes
# $\|\sqrt v\,s_\theta + \boldsymbol\epsilon\|^2$: score matching and noise prediction are the same thing
# up to the factor $\sqrt v$.
#
# The prior: Section 2.2 samples $\mathbf a_T \sim \mathcal N(0, \sigma^2(T)\mathbf I)$, while Algorithm 2
# writes $\mathcal N(0, \mathbf I)$ "for VP/VE". For VE only the former makes sense ($\sigma(T) = 50$).

# %%
ve_score = symbolic.ve_conditional_score()
display(ve_score.exprs["score_in_eps"])
assert ve_score.ok

# %% [markdown]
# ### Exercise `03.ve-exact-factor` · before section 4
#
# Freeze the denoiser $D$: in reversed time the VE probability-flow ODE becomes
# $\frac{d}{dh}(\mathbf x - D) = -L\,(\mathbf x - D)$. By which factor does the exact flow multiply
# $\mathbf x - D$ over a backward step of size $h$? A sympy expression in `L` and `h` (positive).

# %% tags=["solution"]
L, h = sp.symbols("L h", positive=True)
# ---- solution ----
z = sp.Function("z")
exact_factor = sp.dsolve(sp.Eq(z(h).diff(h), -L * z(h)), z(h), ics={z(0): 1}).rhs

# %%
verdict = check("03.ve-exact-factor", exact_factor)

# %% [markdown]
# ### Exercise `03.ve-euler-min-steps` · when Euler stops overshooting
#
# Euler's factor is $1 - Lh$. With $\sigma_{\min} = 0.01$, $\sigma_{\max} = 50$ and $N$ uniform steps on
# $[0, 1]$, what is the smallest $N$ for which it is not negative? A whole number.

# %% tags=["solution"]
min_euler_steps = sp.ceiling(sp.log(sp.Rational(50) / sp.Rational(1, 100)))

# %%
verdict = check("03.ve-euler-min-steps", min_euler_steps)

# %% [markdown]
# ## 4. Why Euler in $t$ fails
#
# Tweedie's formula gives the denoiser $D(\mathbf x) = \mathbf x + \sigma^2\nabla\log p_t(\mathbf x)$. With
# $g^2 = 2L\sigma^2$ the probability-flow velocity is
#
# $$ \frac{d\mathbf x}{dt} = -\tfrac12 g^2\,\nabla\log p_t = L\,(\mathbf x - D(\mathbf x)) . $$
#
# Going backwards by $h$ with $D$ frozen, the exact flow multiplies $\mathbf x - D$ by $e^{-Lh}$; an
# Euler step by $1 - Lh$. Since $1 - y < e^{-y}$ for all $y > 0$, Euler always removes too much
# noise; for $Lh > 1$ it overshoots through the denoised point and for $Lh > 2$ it diverges. With
# $L = 8.5$ and $N$ uniform steps on $[0, 1]$, $Lh = 8.5/N$: above 1 for $N < 9$, and still $0.17$ at
# $N = 50$. The stochastic sampler adds fresh noise every step, which masks the over-contraction.

# %%
euler = symbolic.ve_euler_factor()
display(euler.exprs)
assert euler.ok

# %%
apps.euler_factor_widget()

# %%
fig = figs.euler_factor_figure(steps=20)
save_figure(fig, "03_euler_factor.png")
fig

# %% [markdown]
# The effect on samples, measured without any Monte-Carlo noise: for Gaussian data
# $\mathcal N(0, 0.5^2)$ the exact score is linear, so a probability-flow solver maps $\mathbf x_T$ to
# $c\,\mathbf x_T$ and the sample variance is $c^2 \operatorname{Var}(\mathbf x_T)$; Euler-Maruyama is a linear
# recursion for the variance (see `course_lib.analysis.gaussian.solver_variances`). The solvers are the
# ones of `course_lib.solvers`; the target is 0.25.

# %%
steps_list = (10, 20, 50, 100, 200) if config.FAST else (10, 20, 50, 100, 200, 500, 1000)
variances = gaussian.solver_variances("ve", steps_list)
for solver in ("euler", "heun", "em"):
    print(
        f"{solver:>6}: "
        + "  ".join(f"N={n}: {v:.3f}" for n, v in zip(steps_list, variances[solver], strict=True))
    )
assert variances["euler"][1] < 0.05 and abs(variances["heun"][-1] - 0.25) < 0.005

# %%
fig = rfigs.solver_variance_figure(steps_list, variances, "VE, exact score, data N(0, 0.5²)")
save_figure(fig, "03_ve_solver_variance.png")
fig

# %% [markdown]
# At $N = 50$ Euler keeps 0.095 of the 0.25 target variance: its samples collapse towards the
# mean, which is what a policy that "generated very slow motions, with predicted actions remaining close
# to the agent's current state" (Section 4.1) looks like. Heun is second order and fine from $N \approx 50$;
# Euler-Maruyama converges too. The cure, taken up in notebook 10, is to step in $\sigma$ instead of
# $t$ (Karras et al.): an Euler step in $\sigma$ is exact when $D$ is locally constant.
#
# ## Summary
#
# * $g^2 = 2L\sigma^2$; the weightings $g^2$ and $\sigma^2$ agree up to a constant.
# * The exact kernel variance is $\sigma^2(t) - \sigma_{\min}^2$; the paper's $\sigma^2(t)$ assumes $\sigma(0) = 0$.
# * Euler in $t$ multiplies by $1 - Lh$ instead of $e^{-Lh}$ and loses most of the variance at the
#   step counts used in practice.

# %%
checks = {k: v for k, v in symbolic.verify_all().items() if k.startswith("ve_")}
print(checks)
assert all(checks.values())

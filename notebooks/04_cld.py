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
# # 04 · Critically damped Langevin dynamics (CLD)
#
# The paper's third process adds a momentum $\mathbf p$ to every action coordinate $\mathbf a$
# (Section 2.3, unit mass, friction $\gamma = 3$):
#
# $$ d\mathbf a_t = \mathbf p_t\,dt, \qquad d\mathbf p_t = -\gamma\,\mathbf p_t\,dt + \sqrt{2\gamma}\,d\mathbf W_t
#    \qquad \text{(Eqs. 7-8)} . $$
#
# Noise enters the momentum only and reaches the position through the coupling. We redo Appendix D
# with sympy (matrix exponential, covariance, position variance), check it against the code, and
# then look closely at the paper's generative process, Eqs. 10-11. It is **not** the time reversal of
# Eqs. 7-8, and with exact scores it does not produce the data distribution. We show why, and what the
# correct CLD of Dockhorn et al. looks like.

# %%
import numpy as np
import sympy as sp
import torch
from IPython.display import display

from course_lib import config, sdes, symbolic, toy
from course_lib.analysis import gaussian
from course_lib.analysis.samplers import SamplerSpec, sample_toy
from course_lib.exercises import check
from course_lib.plots import calculus as figs
from course_lib.plots import reverse as rfigs
from course_lib.plots import save_figure
from course_lib.widgets import calculus as apps

torch.set_num_threads(1)  # the toy problems below are tiny: one thread avoids threading overhead
cld = sdes.get("cld")
print(cld, "gamma =", cld.gamma)

# %% [markdown]
# ### Exercise `04.cld-expm-entry` · before section 1
#
# With $\mathbf p_t = e^{-\gamma t}\mathbf p_0$ and $\dot{\mathbf a} = \mathbf p$, how far does a unit initial
# momentum move the position by time $t$? That is the entry $(1, 2)$ of $e^{At}$ for
# $A = \begin{pmatrix} 0 & 1\\ 0 & -\gamma\end{pmatrix}$: a sympy expression in `gamma` (positive) and `t`
# (non-negative). A wrong answer gets a hint; `hint(id, 1)` from `course_lib.exercises` prints
# the next one.

# %% tags=["solution"]
gamma = sp.Symbol("gamma", positive=True)
t = sp.Symbol("t", nonnegative=True)
# ---- solution ----
expm_entry = (sp.Matrix([[0, 1], [0, -gamma]]) * t).exp()[0, 1]

# %%
verdict = check("04.cld-expm-entry", expm_entry)

# %% [markdown]
# ## 1. Linear SDE in phase space (Appendix D.0.1)
#
# With $\mathbf X = (\mathbf a, \mathbf p)$, per coordinate, $d\mathbf X = A\mathbf X\,dt + B\,d\mathbf W$ with
#
# $$ A = \begin{pmatrix} 0 & 1\\ 0 & -\gamma\end{pmatrix}, \quad B = \begin{pmatrix}0\\ \sqrt{2\gamma}\end{pmatrix},
#    \qquad \mathbf X_t = e^{At}\mathbf X_0 + \int_0^t e^{A(t-s)}B\,d\mathbf W_s . $$
#
# `sympy`'s matrix exponential reproduces the paper's
# $e^{At} = \begin{pmatrix}1 & (1 - e^{-\gamma t})/\gamma\\ 0 & e^{-\gamma t}\end{pmatrix}$.

# %%
expm = symbolic.cld_expm()
display(expm.exprs["expm"])
assert expm.ok

# %% [markdown]
# ### Exercise `04.cld-expm-code` · $e^{At}$ in code
#
# Write `cld_expm(gamma, t)` returning $e^{At}$ as a $2\times 2$ numpy array (`gamma`, `t` floats). The
# check compares it with `sdes.get("cld", gamma=...).expm_A(t)`.


# %% tags=["solution"]
def cld_expm(gamma, t):
    """[[1, (1 - e^{-gamma t}) / gamma], [0, e^{-gamma t}]]."""
    decay = np.exp(-gamma * t)
    return np.array([[1.0, (1.0 - decay) / gamma], [0.0, decay]])


# %%
verdict = check("04.cld-expm-code", cld_expm)

# %% [markdown]
# ## 2. The covariance, two ways (Appendix D.0.2)
#
# By Itô's isometry $\Sigma_t = \int_0^t e^{Au}BB^\top e^{A^\top u}\,du$. Integrating entry by entry gives
#
# $$ \Sigma_{11} = \frac{2t}{\gamma} - \frac{3 - 4e^{-\gamma t} + e^{-2\gamma t}}{\gamma^2},\quad
#    \Sigma_{12} = \frac{(1 - e^{-\gamma t})^2}{\gamma},\quad \Sigma_{22} = 1 - e^{-2\gamma t}. $$
#
# Independently, the covariance of any linear SDE solves the Lyapunov equation
# $\dot\Sigma = A\Sigma + \Sigma A^\top + BB^\top$, $\Sigma_0 = 0$ (Itô's lemma on $\mathbf X\mathbf X^\top$);
# `dsolve` on that system returns the same three entries. The paper's algebra is right.

# %%
covariance, lyapunov = symbolic.cld_covariance(), symbolic.cld_lyapunov()
for key in ("S11", "S12", "S22"):
    display(sp.Eq(sp.Symbol(key), covariance.exprs[key]))
assert covariance.ok and lyapunov.ok

# %% [markdown]
# ### Exercise `04.cld-sigma2` · before section 3
#
# With $\mathbf p_0 \sim \mathcal N(0, 1)$, the position given $\mathbf a_0$ has variance
# $\Sigma_{11}(t) + (e^{At})_{12}^2$. Simplify it to $\sigma^2_{CLD}(t)$, a sympy expression in `gamma`
# and `t`.

# %% tags=["solution"]
gamma = sp.Symbol("gamma", positive=True)
t = sp.Symbol("t", nonnegative=True)
# ---- solution ----
decay = sp.exp(-gamma * t)
sigma_11 = 2 * t / gamma - (3 - 4 * decay + decay**2) / gamma**2
sigma_cld2 = sp.simplify(sigma_11 + ((1 - decay) / gamma) ** 2)

# %%
verdict = check("04.cld-sigma2", sigma_cld2)

# %% [markdown]
# ### Exercise `04.cld-small-t` · the ballistic regime
#
# Give the leading term of $\sigma^2_{CLD}(t)$ as $t \to 0$ (its first nonzero Taylor term), a sympy
# expression in `gamma` and `t`.

# %% tags=["solution"]
gamma = sp.Symbol("gamma", positive=True)
t = sp.Symbol("t", nonnegative=True)
# ---- solution ----
sigma_cld2_closed = 2 / gamma**2 * (gamma * t + sp.exp(-gamma * t) - 1)
small_t_leading = sp.series(sigma_cld2_closed, t, 0, 3).removeO()

# %%
verdict = check("04.cld-small-t", small_t_leading)

# %% [markdown]
# ## 3. The position kernel (Appendix D.0.3)
#
# With $\mathbf p_0 \sim \mathcal N(0, \mathbf I)$ the position given $\mathbf a_0$ has mean $\mathbf a_0$ and variance
# $\Sigma_{11} + \big((1 - e^{-\gamma t})/\gamma\big)^2 = \sigma^2_{CLD}(t) = \frac{2}{\gamma^2}(\gamma t + e^{-\gamma t} - 1)$.
# For small $t$ it is $t^2$ (ballistic: the initial momentum moves the position), for large $t$ it is
# $2t/\gamma$ (diffusive, like VE with no bound).

# %%
sigma2 = symbolic.cld_sigma2()
display(sp.Eq(sp.Symbol("sigma_CLD^2"), sigma2.exprs["sigma2"]))
assert sigma2.ok
times = torch.linspace(0.0, 5.0, 51, dtype=torch.float64)
fn = sigma2.function("sigma2", [symbolic.core.t, symbolic.core.gamma])
gap = np.max(np.abs(cld.sigma2(times).numpy() - fn(times.numpy(), cld.gamma)))
print(f"max |sdes sigma2 - sympy| = {gap:.1e}")
assert gap < 1e-12

# %% [markdown]
# ### Exercise `04.cld-covariance-limit` · before section 4
#
# For data $\mathbf a_0 \sim \mathcal N(0, s_0^2)$ and $\mathbf p_0 \sim \mathcal N(0, 1)$,
# $\operatorname{Cov}(\mathbf a_t, \mathbf p_t) = (1 - e^{-\gamma t})/\gamma$. What is its limit as $t \to \infty$? A
# sympy expression in `gamma`.

# %% tags=["solution"]
gamma = sp.Symbol("gamma", positive=True)
t = sp.Symbol("t", nonnegative=True)
# ---- solution ----
covariance_limit = sp.limit((1 - sp.exp(-gamma * t)) / gamma, t, sp.oo)

# %%
verdict = check("04.cld-covariance-limit", covariance_limit)

# %% [markdown]
# The slider changes $\gamma$: lines come from `course_lib.sdes`, dots from the sympy expressions.
# Larger friction slows the position down: $\sigma^2_{CLD}(t) \approx 2t/\gamma$.

# %%
apps.cld_covariance_widget()

# %%
fig = figs.cld_covariance_figure(gamma=3.0)
save_figure(fig, "04_cld_covariance.png")
fig

# %% [markdown]
# Forward paths in phase space, sampled with the exact transition $e^{Ah}$, $\Sigma_h$ between grid
# times, from $\mathbf a_0 = \pm1$ and $\mathbf p_0 \sim \mathcal N(0, 1)$. Small $\gamma$: long ballistic
# excursions; large $\gamma$: the momentum is reset quickly and the position wanders slowly.

# %%
apps.cld_phase_widget()

# %%
fig = figs.cld_phase_figure(gamma=3.0, t_end=2.0, n_paths=12)
save_figure(fig, "04_cld_phase_paths.png")
fig

# %% [markdown]
# ## 4. What the prior ignores
#
# For data $\mathbf a_0 \sim \mathcal N(0, s_0^2)$, the joint law of $(\mathbf a_t, \mathbf p_t)$ has
# $\operatorname{Var}\mathbf p_t = 1$, $\operatorname{Cov}(\mathbf a_t, \mathbf p_t) = (1 - e^{-\gamma t})/\gamma \to 1/\gamma$
# and $\operatorname{Var}\mathbf a_t = s_0^2 + \sigma^2_{CLD}(t) \to \infty$. There is no stationary law:
# the process must be stopped at some $T$ and its law there approximated, as for VE; and the
# position-momentum correlation never vanishes, so drawing $\mathbf a_T$ and $\mathbf p_T$ independently
# is a further approximation.

# %%
prior = symbolic.cld_paper_prior()
display(prior.exprs["joint_cov"])
assert prior.ok

# %% [markdown]
# ## 5. The generative process of Eqs. 10-11 is not the time reversal
#
# The paper generates with the learned position score as a force on the momentum, integrated forward
# in a flipped time $\tau = T - t$:
#
# $$ d\mathbf a = \mathbf p\,d\tau, \qquad d\mathbf p = \big[-\gamma\mathbf p + \lambda(t)\,s_\theta(\mathbf a, t)\big]d\tau + \sqrt{2\gamma}\,d\mathbf W . $$
#
# Anderson's theorem (notebook 05) for $d\mathbf X = A\mathbf X\,dt + B\,d\mathbf W$ gives the exact reversal
#
# $$ d\mathbf X = \big[-A\mathbf X + BB^\top\nabla_{\mathbf X}\log p_{T-\tau}(\mathbf X)\big]d\tau + B\,d\mathbf W, \qquad
#    BB^\top\nabla\log p = \begin{pmatrix}0\\ 2\gamma\,\partial_{\mathbf p}\log p_t(\mathbf a, \mathbf p)\end{pmatrix} . $$
#
# Only the **momentum score of the joint density** enters; the position score
# $\nabla_{\mathbf a}\log p_t(\mathbf a)$ that the paper trains (Eqs. 9 and 19) never appears. Two symbolic
# facts, for Gaussian data where everything is linear:
#
# * For any covariance path $C(t)$ that solves the forward Lyapunov equation, the exact reversal's
#   covariance follows $C(T - \tau)$: it reproduces every marginal.
# * For the paper's process the force is $-k\,\mathbf a$ with $k = \lambda/\operatorname{Var}(\mathbf a)$, any
#   $k(\tau) \ge 0$. Asking its covariance to follow $C(T-\tau)$ fails for **every** choice of $\lambda(t)$:
#   with the same momentum the $(a, a)$ residual is $-4C_{12}$; with the momentum flipped (as time
#   reversal suggests) the $(a, p)$ residual forces $k = 2\gamma C_{12}/C_{11}$, and then the $(p, p)$
#   residual is $-4\gamma C_{12}^2/C_{11} \neq 0$.

# %%
exact_rev, paper_rev = symbolic.cld_exact_reversal(), symbolic.cld_paper_reversal_fails()
display(exact_rev.exprs["score_term"], exact_rev.exprs["residual"])
display(
    paper_rev.exprs["residual_flipped_momentum"], sp.Eq(sp.Symbol("k*"), paper_rev.exprs["k_star"])
)
display(sp.Eq(sp.Symbol("pp residual at k*"), paper_rev.exprs["pp_residual_at_k_star"]))
assert exact_rev.ok and paper_rev.ok

# %% [markdown]
# ### What it does with an exact score
#
# Take data $\mathcal N(0, 0.25)$ and the exact position score $-\mathbf a/\operatorname{Var}(\mathbf a_t)$. The
# covariance of each linear generative SDE solves a Lyapunov ODE, integrated here without sampling
# noise: the exact reversal lands on 0.25; the paper's process (with $\lambda = 1$, $T = 14$ and the
# prior of `course_lib.sdes`) lands near 0.98, a bias that does not shrink with more steps because it
# is in the continuous-time process, not in its discretisation. Putting the position score where the
# momentum score belongs diverges.

# %%
paths = gaussian.cld_generative_covariances(gamma=cld.gamma, T=cld.T, data_var=0.25)
final = {key: paths[key][-1, 0, 0] for key in ("target", "exact", "paper", "misplaced")}
print({key: f"{value:.4g}" for key, value in final.items()})
assert abs(final["exact"] - 0.25) < 1e-5 and abs(final["paper"] - 0.25) > 0.5

# %% [markdown]
# The paper's sampler as implemented in `course_lib.solvers` (Euler-Maruyama on Eqs. 10-11) agrees
# with that prediction, and more steps do not help:

# %%
sampled = {n: gaussian.paper_cld_sampler_variance(steps=n, n_samples=4000) for n in (100, 1000)}
print({n: round(v, 3) for n, v in sampled.items()}, "target 0.25")
assert all(abs(v - final["paper"]) < 0.25 for v in sampled.values())

# %%
apps.cld_reversal_widget()

# %%
fig = rfigs.cld_reversal_figure(paths, gamma=cld.gamma, T=cld.T, data_var=0.25)
save_figure(fig, "04_cld_reversal.png")
fig

# %% [markdown]
# ## 6. The correct CLD (Dockhorn et al.)
#
# CLD-SGM couples position and velocity through a restoring force and chooses the friction at
# critical damping $\Gamma^2 = 4M$:
#
# $$ d\mathbf x = \beta M^{-1}\mathbf v\,dt, \qquad d\mathbf v = (-\beta\mathbf x - \Gamma\beta M^{-1}\mathbf v)\,dt + \sqrt{2\Gamma\beta}\,d\mathbf W . $$
#
# Its drift matrix has the double eigenvalue $-\beta/\sqrt M$, so
# $e^{At} = e^{-\beta t/\sqrt M}\begin{pmatrix}1 + \beta t/\sqrt M & \beta t/M\\ -\beta t & 1 - \beta t/\sqrt M\end{pmatrix}$;
# the Lyapunov ODE from $\Sigma_0 = \operatorname{diag}(0, \gamma_0 M)$ ($\mathbf v_0 \sim \mathcal N(0, \gamma_0 M)$) has a
# closed-form solution, and the process has a stationary law $\mathcal N(0, 1)\otimes\mathcal N(0, M)$, a
# proper prior. Training needs only the velocity score: with $\mathbf u_t = \boldsymbol\mu_t + L_t\boldsymbol\epsilon$ it is
# $\ell_t\,\boldsymbol\epsilon_v$, $\ell_t = -1/\sqrt{\Sigma_{vv} - \Sigma_{xv}^2/\Sigma_{xx}}$ (hybrid score matching).

# %%
hsm, hsm_score = symbolic.cld_hsm_kernel(), symbolic.cld_hsm_velocity_score()
display(hsm.exprs["expm"])
for key in ("Sxx", "Sxv", "Svv"):
    display(sp.Eq(sp.Symbol(key), hsm.exprs[key]))
display(sp.Eq(sp.Symbol("ell"), hsm_score.exprs["ell"]))
assert hsm.ok and hsm_score.ok

# %% [markdown]
# The same closed form is what `sdes.get("cld-hsm")` computes:

# %%
hsm_sde = sdes.get("cld-hsm")
c = symbolic.core
args = [c.t, c.mass, c.beta_cld, c.v0_scale]
times = torch.linspace(0.0, hsm_sde.T, 41, dtype=torch.float64)
params = (hsm_sde.M, hsm_sde.beta, hsm_sde.v0_var_factor)
gaps = [
    np.max(np.abs(code.numpy() - hsm.function(key, args)(times.numpy(), *params)))
    for key, code in zip(("Sxx", "Sxv", "Svv"), hsm_sde.kernel_cov(times), strict=True)
]
print("max |code - sympy| per entry:", [f"{g:.1e}" for g in gaps])
assert max(gaps) < 1e-10

# %% [markdown]
# With exact scores on a two-mode mixture the difference is plain: the paper's sampler spreads the
# modes and gets the weights wrong; the correct CLD with the splitting sampler (SSCS) recovers the
# data with a hundred steps.

# %%
n_samples = 2000 if config.FAST else 10000
samples = {
    "paper CLD, Euler-Maruyama, 1000 steps": sample_toy(
        SamplerSpec("", "cld", "em"), 1000, n_samples=n_samples
    ),
    "cld-hsm, SSCS, 100 steps": sample_toy(
        SamplerSpec("", "cld-hsm", "sscs"), 100, n_samples=n_samples
    ),
}
w1 = {k: toy.w1_to_reference(v) for k, v in samples.items()}  # the course's one reference draw
print({k: round(v, 3) for k, v in w1.items()})
assert w1["cld-hsm, SSCS, 100 steps"] < 0.06 < 0.2 < w1["paper CLD, Euler-Maruyama, 1000 steps"]

# %%
fig = rfigs.two_mode_samples_figure(samples)
save_figure(fig, "04_cld_two_mode.png")
fig

# %% [markdown]
# ## Summary
#
# * Appendix D's matrix exponential, covariance and $\sigma^2_{CLD}$ are right (three derivations agree,
#   and agree with the code).
# * The paper's CLD has no stationary law and its $(\mathbf a, \mathbf p)$ correlation is ignored by the prior.
# * Eqs. 10-11 use the position score as a force; the exact reversal needs the momentum score of the
#   joint density. No choice of $\lambda(t)$ repairs it: the bias is in the continuous process.
# * Dockhorn et al.'s CLD (notebook 10 trains it on PushT) does it right: closed-form kernel, a
#   stationary prior, and a velocity-score objective.

# %%
checks = {k: v for k, v in symbolic.verify_all().items() if k.startswith("cld_")}
print(checks)
assert all(checks.values())

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
# # 08 · Sampling action chunks
#
# A trained policy acts by solving a differential equation (paper Section 3.3, Algorithm 2): draw
# a chunk from the prior, then integrate the generative process from $t = T$ down to
# $t_\varepsilon$ with the learned score, conditioned on the current observation. The end point is
# a chunk of 16 agent targets; the robot executes the first 8 and asks again.
#
# This notebook watches that integration happen **over the PushT scene**: for one real
# observation from a demonstration, several chunks are sampled and drawn at several diffusion
# times. Then it measures what the solver and the number of steps $N$ change: the spread of the
# sampled chunks and the time one chunk costs.
#
# All models are the shipped checkpoints (`course_lib.pretrained`), trained with the course recipe
# of notebook 07.

# %%
import numpy as np
import torch
from IPython.display import Markdown, display

from course_lib import config, pretrained
from course_lib.analysis import chunks
from course_lib.data import load_pusht, make_windows
from course_lib.exercises import check
from course_lib.plots import policy as polplots
from course_lib.plots import save_figure
from course_lib.widgets import policy as polwidgets

if config.FAST:
    torch.set_num_threads(1)
print("fast mode:", config.FAST)

# %% [markdown]
# ## 1 · One observation
#
# We take a frame of a demonstration where the agent is about to push: the observation history
# (two steps of the 9 keypoints and the agent position, 40 numbers) is what the policy sees; the
# 16 targets the human gave next are drawn dashed for comparison. A demonstration is *one* answer
# to the observation; the policy models a *distribution* of answers.

# %%
demos = load_pusht()
EPISODE, FRAME = 3, 30
windows = make_windows(demos, [EPISODE])
obs_history = windows.obs[FRAME].numpy()  # (n_obs = 2, 20) world pixels
state = demos.states[int(windows.frame[FRAME])].astype(np.float64)
demo_chunk = windows.action[FRAME].numpy()  # (16, 2) absolute targets
print("observation history", obs_history.shape, "agent at", obs_history[-1, -2:])

models = {name: pretrained(name) for name in polwidgets.SHIPPED_MODELS}
for name, policy in models.items():
    print(
        f"{name:>8}: default sampler {policy.cfg.solver}-{policy.cfg.steps}, "
        f"horizon {policy.cfg.horizon}, executes {policy.cfg.n_action_steps}; "
        f"made by {policy.metadata.get('command', '?')!r}"
    )

# %% [markdown]
# ## 2 · Where the path starts
#
# Sampling runs in the normalised space, where the demonstrations' targets fill $[-1, 1]$; a point
# $y$ there is the world point $\ell + (y + 1)(h - \ell)/2$, with $\ell, h$ the smallest and largest
# target of the training set on that axis. The prior draw is therefore, in pixels, a cloud around
# the middle of the targets' range whose width is the prior's standard deviation times half that
# range:
#
# * VP: $\mathcal N(0, I)$, since $\bar\alpha(T) \approx 7\cdot10^{-5}$ has forgotten the data;
# * VE: $\mathcal N(0, \sigma(T)^2 I)$ with $\sigma(T)$ close to $\sigma_{\max} = 50$: far outside the table;
# * the paper's CLD: positions $\mathcal N(0, \sigma_{\text{CLD}}(T)^2 I)$ with $T = 14$, momenta $\mathcal N(0, I)$.

# %%
for name in ("vp", "ve", "cld"):
    policy = models[name]
    half_range = policy.action_normalizer.half_range
    prior_std = float(policy.sde.std(policy.sde.T))
    print(
        f"{name.upper():>4}: prior std {prior_std:6.2f} (normalised) = "
        f"{np.round(prior_std * half_range.numpy(), 0)} px in (x, y)"
    )

# %% [markdown]
# ### Exercise `08.minmax-normalise` · the normaliser
#
# Write `normalize(x, low, high)`: the map of each feature (last dimension) of `x` from
# $[\ell, h]$ onto $[-1, 1]$, the inverse of the map above (torch tensors). The check compares it
# with `data.MinMaxNormalizer`. A wrong answer gets a hint; `hint(id, 1)` from
# `course_lib.exercises` prints the next one.


# %% tags=["solution"]
def normalize(x, low, high):
    """2 (x - low) / (high - low) - 1, feature by feature."""
    return 2.0 * (x - low) / (high - low) - 1.0


# %%
verdict = check("08.minmax-normalise", normalize)

# %% [markdown]
# ## 3 · The reverse-time path over the scene
#
# Eight chunks sampled with each paper SDE's default sampler. The bold chunks are the end of the
# path, the sampled actions; the faint ones are the same chunks earlier in the path, coloured by
# diffusion time (dark: near $T$, bright: near $t_\varepsilon$). The right panel follows the
# spread of the eight chunks (RMS distance from their mean chunk, pixels) along the path. The
# title says which fraction of the points lies outside the $512\times512$ world at the index shown.

# %%
paths = {}
for name in ("vp", "ve", "cld"):
    paths[name] = chunks.sample_chunk_trajectories(models[name], obs_history, n_samples=8, seed=0)
    fig = polplots.reverse_chunks_figure(paths[name], state, demo_chunk=demo_chunk)
    save_figure(fig, f"08_chunks_{name}.png")
    display(fig)

# %% [markdown]
# Half-way through the path, the chunks still carry a good part of the prior's noise: if the
# sampler follows the marginals, the VP state at time $t$ is $\sqrt{\bar\alpha_t}\,\mathbf a_0$ plus
# noise of standard deviation $\sqrt{1 - \bar\alpha_t}$ (normalised units). The middle of the VP path:

# %%
traj = paths["vp"]
t_mid = float(traj.times[len(traj.times) // 2])
print(
    f"t = {t_mid:.3f}: noise std sqrt(1 - abar) = {float(models['vp'].sde.std(t_mid)):.2f} normalised"
)
fig = polplots.reverse_chunks_figure(traj, state, index=len(traj.times) // 2, demo_chunk=demo_chunk)
save_figure(fig, "08_chunks_vp_middle.png")
fig

# %% [markdown]
# ### Exercise `08.vp-euler-pf-step` · one step of the path
#
# Write `euler_pf_step(x, t, t_next, score)`: one Euler step of the VP probability-flow ODE
# $dx/dt = f - \tfrac12 g^2\,\text{score}$ from `t` to `t_next`, given the score at `(x, t)`
# (`vp.beta(t)` gives $\beta(t)$). The check compares it with `solvers.ode_euler_step` and measures
# its order of convergence on a toy with an exact score.

# %% tags=["solution"]
from course_lib import sdes

vp = sdes.get("vp")
# ---- solution ----


def euler_pf_step(x, t, t_next, score):
    """x + (t_next - t) (-beta/2 x - beta/2 score)."""
    beta_t = float(vp.beta(t))
    return x + (t_next - t) * (-0.5 * beta_t * x - 0.5 * beta_t * score)


# %%
verdict = check("08.vp-euler-pf-step", euler_pf_step)

# %% [markdown]
# ## 4 · Explore: SDE, solver, steps and diffusion time
#
# The sliders choose the shipped model, the solver (the list follows the SDE: the paper's CLD has
# no Heun, only CLD-HSM has the splitting sampler SSCS), the number of steps $N$ and the index along
# the path (0 is the prior draw, $N$ the sampled chunk). Things to try:
#
# * VE with Euler at $N = 10$, then 100, then Euler-Maruyama: the ODE step in $t$ multiplies the
#   distance to the denoised chunk by $1 - L\,\Delta t$ instead of $e^{-L\,\Delta t}$,
#   $L = \ln(\sigma_{\max}/\sigma_{\min}) \approx 8.5$ (notebook 03);
# * the paper's CLD at small $N$, then VP at $N = 2$;
# * VE-EDM with Euler (a DDIM step in $\sigma$) at $N$ as low as 5.

# %%
app = polwidgets.sampling_app(obs_history, state, demo_chunk=demo_chunk, n_samples=8)
app

# %% [markdown]
# ## 5 · Spread and cost against solver and step count
#
# For the same observation, 32 chunks per setting (8 in fast mode) give two numbers:
#
# * **spread**: the RMS distance of the chunks from their mean chunk, in pixels. It measures how
#   wide the sampled action distribution is. With an exact score every convergent solver tends to
#   the same spread as $N$ grows; a solver that shrinks or inflates it at small $N$ is biased there.
# * **distance to the demonstration**: the mean distance of the sampled targets from the recorded
#   ones. A single demonstration is only one answer, so this is a sanity check, not a score.
#
# and the **latency** of one chunk at batch 1 (median of three calls): roughly $N$ network
# evaluations, twice as many for Heun.

# %%
step_counts = (2, 10) if config.FAST else (2, 5, 10, 20, 50, 100)
rows = []
for policy in models.values():
    settings = [(solver, n) for solver in policy.sde.solvers for n in step_counts]
    rows += chunks.spread_and_latency(
        policy,
        obs_history,
        settings,
        n_samples=8 if config.FAST else 32,
        repeats=1 if config.FAST else 3,
        demo_chunk=demo_chunk,
    )
table = [
    f"| {r['sde'].upper()} | {r['solver']} | {r['steps']} | {r['spread_px']:.1f} | "
    f"{r['demo_error_px']:.1f} | {r['latency_ms']:.1f} |"
    for r in rows
]
display(
    Markdown(
        "| SDE | solver | N | spread (px) | distance to demonstration (px) | latency (ms) |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(table)
    )
)
fig = polplots.spread_latency_figure(rows)
save_figure(fig, "08_spread_latency.png")
fig

# %% [markdown]
# ### Exercise `08.heun-evaluations` · what Heun costs
#
# How many network evaluations does the VP Heun sampler make for one chunk with $N = 25$ steps?

# %% tags=["solution"]
heun_evaluations = 2 * 25

# %%
verdict = check("08.heun-evaluations", heun_evaluations)

# %% [markdown]
# How to read the table:
#
# * For each SDE, the rows with the largest $N$ are the reference: the solvers should agree
#   there. A deterministic solver whose spread at small $N$ sits well below that reference is
#   **collapsing** the action distribution: every sample is pulled towards the same mean chunk.
#   For VE's probability-flow Euler in $t$ this is the over-contraction of notebook 03; a mean chunk
#   that averages a push to the left and a push to the right may go nowhere, one candidate
#   explanation of the paper's observation that its VE ODE samplers "often generated very slow
#   motions".
# * A spread far above the reference, or a distance to the demonstration of hundreds of pixels,
#   means the path has not come back from the prior: too few steps for that process.
# * The latency grows linearly with $N$. The policy is called once per 6 executed actions, 0.6 s
#   of robot time at 10 Hz; the cell below compares the slowest setting with that budget. What
#   $N$ buys is accuracy, and the next notebook measures how much of it the task needs.

# %%
period_ms = 1000.0 * models["vp"].cfg.n_action_steps / 10.0
slowest = max(rows, key=lambda r: r["latency_ms"])
print(
    f"slowest setting: {slowest['sde']} {slowest['solver']}-{slowest['steps']} at "
    f"{slowest['latency_ms']:.0f} ms per chunk = {slowest['latency_ms'] / period_ms:.1%} of the "
    f"{period_ms:.0f} ms the chunk is executed for"
)

# %% [markdown]
# ## Summary
#
# * A chunk is born as a cloud of noise at the scale of the prior (for VE, thousands of pixels)
#   and becomes a path of targets starting at the agent only near the end of the integration.
# * The solver and $N$ decide how faithfully that integration is done. Their mistakes show up as
#   a wrong **spread** of the sampled chunks long before they show up in a task score.
# * Notebook 09 runs these samplers in closed loop on the 50 test starts of PushT.

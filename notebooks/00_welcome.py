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
# # 00 · Welcome: continuous-time diffusion policies
#
# This course follows *Continuous-Time Diffusion Policies for Visuomotor Control: A Stochastic
# Calculus Perspective* (Ghosal and Kuhn). A robot policy $\pi(\mathbf a \mid \mathbf o)$ is written as
# the time reversal of a forward stochastic differential equation
#
# $$ d\mathbf a_t = f(\mathbf a_t, t)\,dt + g(t)\,d\mathbf W_t, \qquad
#    d\mathbf a_t = \big[f(\mathbf a_t, t) - g(t)^2 \nabla_{\mathbf a}\log p_t(\mathbf a_t)\big]dt + g(t)\,d\bar{\mathbf W}_t, $$
#
# and a network learns the score $\nabla_{\mathbf a}\log p_t$. Three forward processes are compared:
# Variance Preserving (VP, cosine schedule), Variance Exploding (VE) and Critically Damped Langevin
# dynamics (CLD), each sampled with Euler and Heun on the probability-flow ODE and with
# Euler-Maruyama on the reverse SDE, on the PushT pushing task.
#
# | notebook | what you do |
# |---|---|
# | 01 | Brownian motion, Itô's lemma and the Ornstein-Uhlenbeck process, proved with sympy |
# | 02 | the VP SDE: the DDPM limit, its exact kernel, the cosine schedule under sliders |
# | 03 | the VE SDE: its kernel, and why an Euler step in $t$ fails |
# | 04 | CLD in phase space: matrix exponential, covariance, and what the paper's sampler gets wrong |
# | 05 | reverse time and the probability-flow ODE on an exact-score toy; orders of convergence |
# | 06 | the PushT environment: physics, coverage, the 206 human demonstrations, a pushing game |
# | 07 | training a policy under each SDE; the loss curves of the paper's Figures 2-5 |
# | 08 | sampling action chunks: reverse-time trajectories drawn over the scene |
# | 09 | Table 1 reproduced beside the paper's, with rollouts |
# | 10 | beyond the paper: the exact CLD reversal and a VE sampler that works |
#
# **Fast mode.** When the environment variable `CI` or `COURSE_FAST=1` is set, notebooks train for a
# few hundred steps only, so that every notebook runs in a few minutes; the library code is the same.
#
# **Sliders.** Cells that build a widget show controls above a figure. Moving a control re-runs a
# plain function of `course_lib` with the new values; the same function is what the tests call, so a
# figure you see is a figure that is tested. If a callback fails, its traceback appears in the output
# area instead of the figure.

# %% [markdown]
# ## Set-up check
# The cell below prints the versions the course was tested with and the device `course_lib` will use
# (`"auto"` picks a CUDA GPU when one is present, the CPU otherwise).

# %%
import importlib
import platform

import torch

from course_lib import config

print(f"python      {platform.python_version()}")
for package in (
    "torch",
    "torchvision",
    "numpy",
    "sympy",
    "matplotlib",
    "ipywidgets",
    "gymnasium",
    "pymunk",
    "shapely",
    "zarr",
):
    module = importlib.import_module(package)
    print(f"{package:11s} {getattr(module, '__version__', getattr(module, 'version', '?'))}")
print(f"device      {config.device('auto')}  (CUDA available: {torch.cuda.is_available()})")
print(f"fast mode   {config.FAST}")
print(f"figures go  {config.figures_output_dir()}")

# %%
assert platform.python_version_tuple()[:2] == ("3", "11"), "the course is pinned to Python 3.11"
assert torch.__version__.startswith("2.14.1"), torch.__version__

# %% [markdown]
# ## The demonstrations
# The policies learn from 206 human demonstrations of PushT. `course_lib.data.load_pusht()` finds
# them from an explicit path, the `COURSE_LIB_DATA` environment variable, the user cache, or downloads
# the official archive.

# %%
from course_lib.data import load_pusht

demos = load_pusht()
print(f"{demos.n_episodes} episodes, {len(demos.states)} frames, from {demos.source}")
assert demos.n_episodes == 206

# %% [markdown]
# ## A first slider
# Every interactive figure in the course is built the same way: a pure function and a few controls.
# Here the function draws $\sin(k x)$; move the slider.

# %%
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.widgets import slider_app


def wave(k: float = 1.0):
    fig, ax = plt.subplots(figsize=(5, 2))
    x = np.linspace(0, 2 * np.pi, 400)
    ax.plot(x, np.sin(k * x))
    ax.set_title(f"sin({k:.1f} x)")
    return fig


app = slider_app(
    wave, "a first slider", k=widgets.FloatSlider(value=1.0, min=0.5, max=5.0, step=0.5)
)
app.run(k=5.0)  # the same call the tests make
app

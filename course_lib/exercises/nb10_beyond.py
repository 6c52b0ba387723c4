"""Exercises of notebook 10: the DDIM step, the rho = 7 grid, the cost of EDM's Heun sampler."""

from __future__ import annotations

import numpy as np
import sympy as sp

from course_lib import sdes, solvers
from course_lib.exercises import code_check as cc
from course_lib.exercises.core import Mistake
from course_lib.exercises.kinds import CodeExercise, NumberExercise, SymbolicExercise
from course_lib.exercises.registry import register
from course_lib.exercises.sympy_compare import Domain

x, denoised = sp.symbols("x D", real=True)
sigma, sigma_next = sp.symbols("sigma sigma_next", positive=True)

ddim = SymbolicExercise(
    id="10.ddim-step",
    title="Euler in sigma",
    statement=(
        "The VE probability-flow ODE in the noise level reads dx/dsigma = (x - D) / sigma. Write "
        "one Euler step from `sigma` to `sigma_next` (both positive) with the denoiser value `D` "
        "at the start, an expression in `x`, `D`, `sigma` and `sigma_next`."
    ),
    hints=("x' = x + (sigma_next - sigma) * (slope at the start).",),
    domain=Domain(
        (x, denoised, sigma, sigma_next), {"sigma": (0.5, 5.0), "sigma_next": (0.01, 0.5)}
    ),
    reference=lambda: x + (sigma_next - sigma) * (x - denoised) / sigma,
    equivalents=(
        denoised + sigma_next / sigma * (x - denoised),
        x * sigma_next / sigma + denoised * (1 - sigma_next / sigma),
    ),
    mistakes=(
        Mistake(x + (sigma_next - sigma) * (x - denoised), "The slope is (x - D) / sigma."),
        Mistake(
            x - (sigma_next - sigma) * (x - denoised) / sigma,
            "The step is x + (sigma_next - sigma) * slope; sigma_next < sigma makes it go down.",
        ),
        Mistake(
            denoised + sigma / sigma_next * (x - denoised),
            "x - D shrinks with the noise level: by sigma_next / sigma.",
        ),
    ),
)


def karras_sigmas(n, sigma_min, sigma_max, rho=7.0):
    """sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho."""
    frac = np.linspace(0.0, 1.0, n)
    hi, lo = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    return (hi + frac * (lo - hi)) ** rho


@cc.tester
def _test_karras(fn) -> None:
    """Against the library's "edm" grid of the VE SDE, read in noise levels."""
    ve = sdes.get("ve")
    n = 12
    want = ve.noise_level(solvers.time_grid(ve, n - 1, "edm")).numpy()
    s_min, s_max = float(ve.noise_level(ve.t_eps)), float(ve.noise_level(ve.T))
    got = cc.array(cc.run(fn, n, s_min, s_max, 7.0), (n,))
    if cc.mismatch(got, want, "", rtol=1e-6) is None:
        return
    if cc.mismatch(got[::-1], want, "", rtol=1e-6) is None:
        raise cc.Failed("your grid increases; the sampler starts at sigma_max and goes down.")
    if abs(got[0] - s_max) > 1e-6 * s_max or abs(got[-1] - s_min) > 1e-6 * s_max:
        raise cc.Failed(
            f"your grid runs from {got[0]:.4g} to {got[-1]:.4g}; it should run from "
            f"sigma_max = {s_max:.4g} to sigma_min = {s_min:.4g}."
        )
    if np.allclose(np.diff(got), np.diff(got)[0], rtol=1e-6):
        raise cc.Failed(
            "your grid is evenly spaced in sigma: the rho = 7 grid is evenly spaced "
            "in sigma^(1/7), which crowds the steps at small sigma."
        )
    cc.fail_if(cc.mismatch(got, want, "Your grid"))


karras = CodeExercise(
    id="10.karras-grid",
    title="The rho = 7 noise-level grid",
    statement=(
        "Write `karras_sigmas(n, sigma_min, sigma_max, rho=7.0)` returning the n decreasing noise "
        "levels sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, "
        "i = 0 .. n-1, as a numpy array."
    ),
    hints=(
        "Interpolate linearly between sigma_max^(1/rho) and sigma_min^(1/rho), then raise to rho.",
    ),
    reference=karras_sigmas,
    tester=_test_karras,
    success="your grid matches the library's 'edm' time grid, read as noise levels",
    mistakes=(
        Mistake(
            lambda n, lo, hi, rho=7.0: karras_sigmas(n, lo, hi, rho)[::-1], "", expect="increases"
        ),
        Mistake(lambda n, lo, hi, rho=7.0: karras_sigmas(n, lo, hi, 1.0), "", expect="evenly"),
        Mistake(
            lambda n, lo, hi, rho=7.0: karras_sigmas(n + 1, lo, hi, rho)[:n], "", expect="sigma_min"
        ),
    ),
)

edm_cost = NumberExercise(
    id="10.edm-heun-evaluations",
    title="What EDM's Heun sampler costs",
    statement=(
        "The VE-EDM Heun sampler with N = 18 steps (the last one goes to sigma = 0): how many "
        "network evaluations does one sample cost?"
    ),
    hints=(
        "Every step but the last has a corrector (two evaluations); the last step to sigma = 0 "
        "would divide by zero in the corrector, so it is an Euler step.",
    ),
    value=35.0,
    mistakes=(
        Mistake(36.0, "The last step, to sigma = 0, has no corrector."),
        Mistake(18.0, "Heun's corrector evaluates the network a second time per step."),
        Mistake(34.0, "17 steps with two evaluations, plus the last one with one."),
    ),
)

register(ddim, karras, edm_cost)

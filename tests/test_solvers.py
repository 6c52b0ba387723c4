"""course_lib.solvers: interface, grids, shapes, dtypes, reproducibility and every error path."""

from __future__ import annotations

import pytest
import torch
from builders import F64, gen

from course_lib import sdes, solvers, toy

pytestmark = pytest.mark.usefixtures("one_thread")


ALL_PAIRS = [(name, s) for name in sdes.NAMES for s in sdes.sde_class(name).solvers]


def test_each_sde_record_lists_its_solvers():
    assert {name: sdes.sde_class(name).solvers for name in sdes.NAMES} == {
        "vp": ("euler", "heun", "em", "ddim"),
        "ve": ("euler", "heun", "em", "ddim"),
        "cld": ("euler", "em"),
        "cld-hsm": ("euler", "heun", "em", "sscs"),
        "ve-edm": ("euler", "heun", "em"),
        "vp-edm": ("euler", "heun", "em", "ddim"),
    }


def test_the_solver_table_has_one_record_per_solver():
    assert solvers.solver_names() == ("euler", "heun", "em", "sscs", "ddim")
    stochastic = {name for name, s in solvers.SOLVER_TABLE.items() if s.stochastic}
    assert stochastic == {"em", "sscs"}
    for solver in solvers.SOLVER_TABLE.values():
        assert solver.label and solver.color.startswith("#") and solver.marker
    for name in sdes.NAMES:  # every SDE's solvers have a step in its stepping variable
        sde = sdes.get(name)
        for solver in sde.solvers:
            assert callable(solvers.solver_info(solver).step_for(sde))
    with pytest.raises(ValueError, match="unknown solver 'rk4'"):
        solvers.solver_info("rk4")


# ---------------------------------------------------------------------- grids
@pytest.mark.parametrize("name", sdes.NAMES)
def test_time_grids_are_decreasing_from_T_to_t_eps(name):
    sde = sdes.get(name)
    for kind in solvers.grid_kinds(sde):
        grid = solvers.time_grid(sde, 20, kind)
        assert grid.shape == (21,) and grid.dtype == F64
        assert float(grid[0]) == sde.T and float(grid[-1]) == sde.t_eps
        assert bool((grid[1:] < grid[:-1]).all())


def test_named_grids_have_their_shape():
    vp = sdes.get("vp")
    uniform = solvers.time_grid(vp, 10, "uniform")
    assert torch.allclose(
        uniform[:-1] - uniform[1:], torch.full((10,), (vp.T - vp.t_eps) / 10, dtype=F64)
    )
    quad = solvers.time_grid(vp, 10, "quadratic")
    steps = quad[:-1] - quad[1:]
    assert bool((steps[1:] < steps[:-1]).all())  # denser towards the data
    edm = sdes.get("ve-edm")
    sig = edm.sigma(solvers.time_grid(edm, 10, "edm")) ** (1 / solvers.RHO)
    diffs = sig[:-1] - sig[1:]
    assert torch.allclose(diffs, diffs.mean().expand(10), rtol=1e-9)  # uniform in sigma^(1/7)
    assert float(edm.sigma(edm.T)) == pytest.approx(50.0)


def test_grid_errors():
    with pytest.raises(ValueError, match="valid grids are \\('uniform', 'quadratic'\\)"):
        solvers.time_grid(sdes.get("cld"), 10, "edm")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        solvers.time_grid(sdes.get("vp"), 0)
    vp = sdes.get("vp")
    score = toy.gaussian_1d().score_fn(vp)
    with pytest.raises(ValueError, match="valid grids"):
        solvers.sample(vp, score, (4, 1), solver="euler", steps=4, grid="cosine")
    with pytest.raises(ValueError, match="strictly decreasing"):
        solvers.sample(
            vp, score, (4, 1), solver="euler", steps=2, grid=torch.tensor([0.1, 0.5, 0.9])
        )
    with pytest.raises(ValueError, match="with 3 times"):
        solvers.sample(vp, score, (4, 1), solver="euler", steps=2, grid=torch.tensor([0.9, 0.1]))
    with pytest.raises(ValueError, match=r"\[0, T\]"):
        solvers.sample(
            vp, score, (4, 1), solver="euler", steps=2, grid=torch.tensor([1.5, 0.5, 0.1])
        )


def test_explicit_grid_equals_named_grid():
    vp = sdes.get("vp")
    score = toy.two_mode_1d().score_fn(vp)
    grid = solvers.time_grid(vp, 8, "quadratic")
    a = solvers.sample(vp, score, (16, 1), solver="heun", steps=8, grid=grid, generator=gen())
    b = solvers.sample(
        vp, score, (16, 1), solver="heun", steps=8, grid="quadratic", generator=gen()
    )
    assert torch.equal(a, b)


# ---------------------------------------------------------------------- shapes, dtypes, seeds
@pytest.mark.parametrize(("name", "solver"), ALL_PAIRS)
@pytest.mark.parametrize("shape", [(5, 2), (3, 8, 2), (2, 16, 2)])
def test_every_sampler_runs_on_every_shape(name, solver, shape):
    sde = sdes.get(name)
    score = toy.three_mode_2d().score_fn(sde)
    calls = []

    def spy(state, t):
        calls.append((tuple(state.shape), tuple(t.shape), t.dtype))
        return score(state, t)

    out = solvers.sample(sde, spy, shape, solver=solver, steps=3, generator=gen())
    assert out.shape == shape and out.dtype == torch.float32
    assert bool(torch.isfinite(out).all())
    state_shape = (*shape[:-1], 2 * sde.state_factor)
    assert calls and all(c == (state_shape, (shape[0],), torch.float32) for c in calls)


@pytest.mark.parametrize(("name", "solver"), ALL_PAIRS)
def test_dtypes_seeds_and_paths(name, solver):
    sde = sdes.get(name)
    score = toy.two_mode_1d().score_fn(sde)
    kw = {"solver": solver, "steps": 4}
    a64 = solvers.sample(sde, score, (6, 1), generator=gen(1), dtype=F64, **kw)
    b64 = solvers.sample(sde, score, (6, 1), generator=gen(1), dtype=F64, **kw)
    assert a64.dtype == F64 and torch.equal(a64, b64)
    a32 = solvers.sample(sde, score, (6, 1), generator=gen(1), **kw)
    assert a32.dtype == torch.float32
    assert torch.allclose(a32.double(), a64, atol=1e-4, rtol=1e-4)
    if solvers.solver_info(solver).stochastic or sde.state_factor == 2:
        assert not torch.equal(solvers.sample(sde, score, (6, 1), generator=gen(2), **kw), a32)
    x, path = solvers.sample(sde, score, (6, 1), generator=gen(1), return_path=True, **kw)
    assert torch.equal(x, a32)
    assert path.times.shape == (5,) and path.states.shape == (5, 6, sde.state_factor)
    assert torch.equal(sde.positions(path.states[-1]), x)
    assert float(path.times[0]) == sde.T
    assert path.final_denoised == sde.denoise_final_default


def test_x_init_is_the_starting_state_and_sets_dtype():
    hsm = sdes.get("cld-hsm")
    x_init = hsm.prior_sample((7, 8, 2), generator=gen(), dtype=F64)
    score = toy.three_mode_2d().score_fn(hsm)
    out, path = solvers.sample(
        hsm, score, (7, 8, 2), solver="heun", steps=3, x_init=x_init, return_path=True
    )
    assert out.dtype == F64 and torch.equal(path.states[0], x_init)
    assert not torch.equal(out, hsm.positions(x_init))


def test_denoise_final_is_the_last_step():
    ve = sdes.get("ve", kernel="song")
    mix = toy.gaussian_1d(0.5)
    score = mix.score_fn(ve)
    x, path = solvers.sample(
        ve, score, (8, 1), solver="heun", steps=5, return_path=True, generator=gen()
    )
    assert path.final_denoised and float(path.times[-1]) == float(path.times[-2]) == ve.t_eps
    before = path.states[-2]
    expected = before + float(ve.std(ve.t_eps)) ** 2 * score(before, torch.full((8,), ve.t_eps))
    assert torch.allclose(x, expected)
    raw = solvers.sample(
        ve, score, (8, 1), solver="heun", steps=5, generator=gen(), denoise_final=False
    )
    assert raw.shape == x.shape and not torch.equal(raw, x)
    vp_path = solvers.sample(sdes.get("vp"), score, (2, 1), solver="em", steps=3, return_path=True)[
        1
    ]
    assert not vp_path.final_denoised


def test_ve_edm_last_step_reaches_sigma_zero():
    edm = sdes.get("ve-edm")
    score = toy.gaussian_1d(0.5).score_fn(edm)
    _, path = solvers.sample(
        edm, score, (4, 1), solver="heun", steps=6, return_path=True, generator=gen()
    )
    x_before = path.states[-2]
    denoised = x_before + 0.01**2 * score(x_before, torch.zeros(4))
    assert torch.allclose(path.states[-1], denoised)  # Euler in sigma to 0 = the denoiser


# ---------------------------------------------------------------------- errors
def test_unknown_solver_names_the_valid_ones():
    vp = sdes.get("vp")
    with pytest.raises(
        ValueError, match="valid solvers for 'vp' are \\('euler', 'heun', 'em', 'ddim'\\)"
    ):
        solvers.sample(vp, toy.gaussian_1d().score_fn(vp), (2, 1), solver="rk4", steps=2)
    with pytest.raises(ValueError, match="sscs"):
        solvers.sample(vp, toy.gaussian_1d().score_fn(vp), (2, 1), solver="sscs", steps=2)


def test_paper_cld_heun_is_refused_with_a_reason():
    cld = sdes.get("cld")
    with pytest.raises(ValueError, match="not part of the paper.*valid solvers for 'cld'"):
        solvers.sample(cld, toy.gaussian_1d().score_fn(cld), (2, 1), solver="heun", steps=2)


@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_bad_steps(steps):
    vp = sdes.get("vp")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        solvers.sample(vp, toy.gaussian_1d().score_fn(vp), (2, 1), solver="em", steps=steps)


def test_x_init_and_shape_errors():
    cld = sdes.get("cld")
    score = toy.gaussian_1d().score_fn(cld)
    with pytest.raises(ValueError, match="state shape \\(3, 2\\)"):
        solvers.sample(cld, score, (3, 1), solver="em", steps=2, x_init=torch.zeros(3, 1))
    with pytest.raises(ValueError, match="data shape"):
        solvers.sample(cld, score, (3,), solver="em", steps=2)


def test_bad_score_and_denoise_requests():
    vp = sdes.get("vp")
    with pytest.raises(ValueError, match="score_fn must return a tensor of the data shape"):
        solvers.sample(vp, lambda x, t: x[:, :1], (3, 2), solver="euler", steps=2)
    hsm = sdes.get("cld-hsm")
    with pytest.raises(ValueError, match="denoise_final needs a Tweedie denoiser"):
        solvers.sample(
            hsm, toy.gaussian_1d().score_fn(hsm), (3, 1), solver="em", steps=2, denoise_final=True
        )
    with pytest.raises(ValueError, match="no probability-flow ODE"):
        solvers.probability_flow(sdes.get("cld"), None, torch.zeros(2, 2), torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="valid methods"):
        solvers.probability_flow(
            vp, None, torch.zeros(2, 1), torch.tensor([0.1, 0.2]), method="rk4"
        )

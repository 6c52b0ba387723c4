"""Extending the library: an SDE and a solver defined in this file, registered for the test only,
go through the sampler, two training steps of a policy, a closed-loop evaluation and the result
table writer without an edit to any module of course_lib (ARCHITECTURE.md, "Adding an SDE")."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import sdes, solvers, tables, toy
from course_lib.data import load_pusht
from course_lib.evaluate import evaluate
from course_lib.policy import DiffusionPolicy, PolicyConfig
from course_lib.sdes.base import mean_over_data, randn
from course_lib.sdes.kernel import IsotropicKernelSDE
from course_lib.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


# ---------------------------------------------------------------------- step 1: the SDE module
class OrnsteinUhlenbeckSDE(IsotropicKernelSDE):
    """dx = -x dt + sqrt(2) dW: x_t | x_0 ~ N(e^-t x_0, (1 - e^-2t) I), prior N(0, I) at T = 5
    (e^-5 = 0.007 of the data left); the network predicts the noise eps, as for VP."""

    name = "test-ou"
    label = "OU"
    color = "#17becf"
    solvers = ("euler", "em", "test-midpoint")
    default_sampler = ("test-midpoint", 6)
    #: Steps crowd near t_eps, where the score of sharp data changes fastest.
    default_grid = "quadratic"

    def __init__(self, *, T: float = 5.0, t_eps: float = 1e-3):
        super().__init__(T=T, t_eps=t_eps)

    def mean_coeff(self, t):
        return torch.exp(-self.time_tensor(t))

    def std(self, t):
        return torch.sqrt(-torch.expm1(-2.0 * self.time_tensor(t)))

    def drift(self, x, t):
        self.time_tensor(t, batch=x.shape[0])
        return -x

    def diffusion(self, t):
        return torch.full_like(self.time_tensor(t), math.sqrt(2.0))

    def prior_sample(self, shape, generator=None, device=None, dtype=None):
        return randn(tuple(shape), generator=generator, device=device, dtype=dtype)

    def network_inputs(self, state, t):
        return state, self.batch_times(t, state.shape[0], state)

    def score_from_output(self, output, state, t):
        self.check_output(output, state)
        return self.eps_to_score(output, t)

    def output_from_score(self, score, state, t):
        return self.score_to_eps(score, t)

    def loss(self, net_fn, x0, generator=None, t=None):
        x0 = self._check_data(x0)
        tt = self._loss_times(x0, t, generator)
        x_t, eps = self.perturb(x0, tt, generator)
        return mean_over_data((self._run_net(net_fn, x_t, tt) - eps) ** 2)


# ---------------------------------------------------------------------- step 2: the solver
def midpoint_step(sde, score_fn, x, t, t_next, generator):
    """Explicit midpoint on the probability-flow ODE: x' = x + h F(x + h/2 F(x, t), t + h/2)."""
    h = t_next - t
    half = x + 0.5 * h * solvers.ode_velocity(sde, score_fn, x, t)
    return x + h * solvers.ode_velocity(sde, score_fn, half, t + 0.5 * h)


MIDPOINT = solvers.Solver(
    "test-midpoint", "Midpoint", "#8c564b", "v", "-", False, {"t": midpoint_step}
)


# ---------------------------------------------------------------------- step 3: register them
@pytest.fixture
def registered():
    sdes.register(OrnsteinUhlenbeckSDE)
    solvers.register_solver(MIDPOINT)
    try:
        yield sdes.get(OrnsteinUhlenbeckSDE.name)
    finally:
        solvers.unregister_solver(MIDPOINT.name)
        sdes.unregister(OrnsteinUhlenbeckSDE.name)


def test_registering_adds_and_unregistering_removes(registered):
    assert registered.name in sdes.names() and registered.name not in sdes.NAMES
    assert sdes.label(registered.name) == "OU" and sdes.color(registered.name) == "#17becf"
    assert solvers.solver_names()[-1] == "test-midpoint"
    with pytest.raises(ValueError, match="new, non-empty name"):
        sdes.register(OrnsteinUhlenbeckSDE)
    with pytest.raises(ValueError, match="new, non-empty name"):
        solvers.register_solver(MIDPOINT)


def test_a_record_must_be_complete():
    class NoDefault(OrnsteinUhlenbeckSDE):
        name = "test-no-default"
        default_sampler = ("heun", 10)

    class NoVariable(OrnsteinUhlenbeckSDE):
        name = "test-no-variable"
        stepping = "log-t"

    for cls, message in ((NoDefault, "default solver 'heun'"), (NoVariable, "stepping")):
        with pytest.raises(ValueError, match=message):
            sdes.register(cls)
        assert cls.name not in sdes.names()


def test_the_sampler_runs_the_new_solver_on_the_new_sde(registered):
    """Exact score of N(0.5, 0.3^2) data: every listed solver lands on the law at t_eps,
    N(m 0.5, m^2 0.3^2 + s^2); the midpoint's flow map converges with order 2 to the exact linear
    map sqrt(v(t_eps) / v(T)) of the flow, Euler's with order 1."""
    sde = registered
    score = toy.GaussianMixture([1.0], [0.5], [0.3]).score_fn(sde)
    m, s = float(sde.mean_coeff(sde.t_eps)), float(sde.std(sde.t_eps))
    for solver in sde.solvers:
        x = solvers.sample(
            sde,
            score,
            (20_000, 1),
            solver=solver,
            steps=200,
            generator=torch.Generator().manual_seed(0),
        )
        assert float(x.mean()) == pytest.approx(0.5 * m, abs=0.01), solver
        assert float(x.std()) == pytest.approx(math.hypot(0.3 * m, s), abs=0.01), solver
    with pytest.raises(ValueError, match="valid solvers for 'test-ou'"):
        solvers.sample(sde, score, (4, 1), solver="heun", steps=4)

    centred = toy.GaussianMixture([1.0], [0.0], [0.3]).score_fn(sde)

    def variance(t):
        return float(sde.mean_coeff(t)) ** 2 * 0.09 + float(sde.std(t)) ** 2

    exact = math.sqrt(variance(sde.t_eps) / variance(sde.T))
    for solver, order in (("euler", 1.0), ("test-midpoint", 2.0)):
        errors = [
            abs(float(solvers.linear_flow_map(sde, centred, solver, n)) - exact) for n in (40, 80)
        ]
        assert math.log2(errors[0] / errors[1]) == pytest.approx(order, abs=0.2), solver


def test_a_policy_trains_evaluates_and_fills_the_result_table(registered, tmp_path):
    policy_cfg = PolicyConfig(sde=registered.name, decoder="tiny")
    assert (policy_cfg.solver, policy_cfg.steps) == registered.default_sampler
    train_cfg = TrainConfig(
        steps=2,
        batch_size=16,
        lr=1e-3,
        warmup=1,
        val_every=2,
        ckpt_every=2,
        val_fraction=0.2,
        val_windows=32,
        device="cpu",
    )
    demos = load_pusht().subset(range(12))
    result = train(policy_cfg, train_cfg, tmp_path, demos=demos, progress=False)
    assert result.policy.metadata["steps"] == 2
    policy = DiffusionPolicy.load(tmp_path / "policy.pt", device="cpu")
    assert policy.cfg == policy_cfg and isinstance(policy.sde, OrnsteinUhlenbeckSDE)

    metrics = evaluate(policy, seeds=[100000], max_steps=8, progress=False)
    assert 0.0 <= metrics["mean_score"] <= 1.0 and metrics["steps"] == 6
    table = tables.table1_markdown(
        {registered.name: {"test-midpoint": tables.cell(metrics)}}, [registered.name]
    )
    row = next(line for line in table.splitlines() if line.startswith("| OU |"))
    assert row.startswith("| OU | Midpoint | 6 | **") and "| – |" in row  # no paper value

"""Plumbing shared by every forward SDE: time checks, broadcasting, state layout, random draws.

Conventions used by all processes in :mod:`course_lib.sdes`:

* ``t`` is a Python float or a tensor of shape ``()`` or ``(batch,)``; coefficients are computed in
  float64 and cast to the dtype of the tensor they multiply.
* A *state* is what the solvers integrate. For first-order processes (VP, VE) it is the data
  itself, shape ``(batch, ..., d)``. For the phase-space processes (``"cld"``, ``"cld-hsm"``) it is
  position and momentum/velocity concatenated on the last dimension, shape ``(batch, ..., 2 d)``
  (``state_factor = 2``). Networks always output data-shaped tensors ``(batch, ..., d)``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import torch
from torch import Tensor

#: A time argument: a float, or a tensor of shape () or (batch,).
TimeLike = float | Tensor
#: ``net_fn(x_in, c_noise) -> output`` as used by :meth:`SDE.loss`.
NetFn = Callable[[Tensor, Tensor], Tensor]

#: Relative slack when checking ``t <= T`` (float32 grids round T up by about one ulp).
_TIME_SLACK = 1e-6


def randn(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Standard normal draws on ``device``, drawn where ``generator`` lives, then moved."""
    source = generator.device if generator is not None else device
    z = torch.randn(shape, generator=generator, device=source, dtype=dtype or torch.float32)
    return z.to(device) if device is not None else z


def rand(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Uniform draws on [0, 1), with the same generator/device rule as :func:`randn`."""
    source = generator.device if generator is not None else device
    u = torch.rand(shape, generator=generator, device=source, dtype=dtype or torch.float32)
    return u.to(device) if device is not None else u


def truncated_log_normal(
    batch: int,
    mean: float,
    std: float,
    lo: float,
    hi: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """float64 draws of ln(sigma) ~ N(mean, std^2) truncated to [lo, hi] (bounds on ln sigma).

    Inverse-CDF sampling: u ~ U[Phi(lo), Phi(hi)], ln sigma = mean + std sqrt(2) erfinv(2u - 1), so
    no mass piles up at the bounds (EDM's training noise levels, Karras et al. 2022, Sec. 5).
    """
    if std <= 0 or not lo < hi:
        raise ValueError(f"need std > 0 and lo < hi, got std={std}, lo={lo}, hi={hi}")
    cdf = [0.5 * (1.0 + math.erf((v - mean) / (std * math.sqrt(2.0)))) for v in (lo, hi)]
    u = rand((batch,), generator=generator, device=device, dtype=torch.float64)
    p = cdf[0] + (cdf[1] - cdf[0]) * u
    return (mean + std * math.sqrt(2.0) * torch.erfinv(2.0 * p - 1.0)).clamp(lo, hi)


def mean_over_data(values: Tensor) -> Tensor:
    """Per-sample mean over every non-batch dimension: ``(batch, ...) -> (batch,)``."""
    return values.reshape(values.shape[0], -1).mean(dim=1)


#: The variables a sampler can step in (``SDE.stepping``).
STEPPINGS = ("t", "sigma", "tau")


class SDE(abc.ABC):
    """A forward diffusion ``dX = f(X, t) dt + g(t) dW`` on [0, T] and its network parameterisation.

    Subclasses implement the process (``drift``, ``diffusion``, ``prior_sample``), the network
    parameterisation (``network_inputs``, ``score_from_output``, ``output_from_score``) and the
    per-sample training ``loss``. ``state_factor`` is 2 when the state carries a momentum.

    The class attributes below are the process's record: the registry (``sdes.get``), the sampler
    (``solvers.sample``), the policy and the figures read them; nothing looks at ``name`` to decide
    what to do.
    """

    #: Registry name (``sdes.get(name)``), label in tables and colour in figures.
    name: str = ""
    label: str = ""
    color: str = "grey"
    #: Solvers (names in ``course_lib.solvers.SOLVER_TABLE``) this process is sampled with, in order.
    solvers: tuple[str, ...] = ("euler", "heun", "em")
    #: Why a solver of the table is not offered, for the error message: solver -> reason.
    solver_notes: dict[str, str] = {}
    #: ``(solver, steps)`` of a policy that is given no sampler.
    default_sampler: tuple[str, int] = ("euler", 50)
    #: The variable the samplers step in: "t" (the reverse SDE or probability-flow ODE of
    #: ``reverse_drift`` in diffusion time), "sigma" (the same in the noise level sigma, EDM; noise
    #: level 0 is then a grid point) or "tau" (the paper's CLD generative process, Eqs. 10-11, in
    #: virtual time tau = T - t; it has no probability-flow ODE).
    stepping: str = "t"
    #: 2 when the state carries a momentum, then named ``state_names`` (position, momentum).
    state_factor: int = 1
    state_names: tuple[str, str] = ("x", "v")
    #: Default time grid of :func:`course_lib.solvers.sample` for this process.
    default_grid: str = "uniform"
    #: Whether the samplers end with a denoising step by default (see ``solvers.sample``).
    denoise_final_default: bool = False
    #: How the samplers "euler" and "heun" step the probability-flow ODE ("plain": in t).
    ode_stepping: str = "plain"

    def __init__(self, T: float, t_eps: float):
        if not (math.isfinite(T) and math.isfinite(t_eps)):
            raise ValueError(f"T and t_eps must be finite, got T={T}, t_eps={t_eps}")
        if not 0.0 <= t_eps < T:
            raise ValueError(f"need 0 <= t_eps < T, got t_eps={t_eps}, T={T}")
        self.T = float(T)
        self.t_eps = float(t_eps)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, T={self.T}, t_eps={self.t_eps})"

    # ------------------------------------------------------------------ time handling
    def time_tensor(self, t: TimeLike, *, batch: int | None = None, device=None) -> Tensor:
        """Check ``t`` (within [0, T], shape () or (batch,)) and return it as a float64 tensor."""
        if isinstance(t, Tensor):
            if t.dim() > 1:
                raise ValueError(
                    f"t must be a float or a tensor of shape (batch,), got {tuple(t.shape)}"
                )
            if t.dim() == 1 and batch is not None and t.shape[0] != batch:
                raise ValueError(f"t has {t.shape[0]} entries but the batch has {batch}")
            if t.is_complex() or not t.is_floating_point():
                raise ValueError(f"t must be a floating-point tensor, got dtype {t.dtype}")
            tt = t.detach().to(torch.float64)
        else:
            tt = torch.tensor(float(t), dtype=torch.float64, device=device)
        if not bool(torch.isfinite(tt).all()):
            raise ValueError("t contains non-finite values")
        lo, hi = float(tt.min()), float(tt.max())
        if lo < 0.0 or hi > self.T * (1.0 + _TIME_SLACK):
            raise ValueError(
                f"t must lie in [0, T] = [0, {self.T}] for {self.name!r}; got [{lo}, {hi}]"
            )
        return tt.clamp(0.0, self.T)

    @staticmethod
    def broadcast(coef: Tensor, like: Tensor) -> Tensor:
        """Reshape a coefficient of shape () or (batch,) to multiply ``like`` (batch, ...)."""
        coef = coef.to(dtype=like.dtype, device=like.device)
        if coef.dim() == 0:
            return coef
        return coef.reshape(coef.shape[0], *([1] * (like.dim() - 1)))

    def batch_times(self, t: TimeLike, batch: int, like: Tensor) -> Tensor:
        """``t`` as a tensor of shape (batch,) with the dtype and device of ``like``."""
        tt = self.time_tensor(t, batch=batch, device=like.device)
        return tt.expand(batch).to(dtype=like.dtype, device=like.device)

    def sample_time(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """Training times, uniform on [t_eps, T], shape (batch,)."""
        u = rand((batch,), generator=generator, device=device, dtype=torch.float64)
        return (self.t_eps + (self.T - self.t_eps) * u).to(dtype)

    # ------------------------------------------------------------------ state layout
    def data_dim(self, state: Tensor) -> int:
        """Size ``d`` of the data's last dimension; a state's last dim is ``d * state_factor``."""
        if state.dim() < 2:
            raise ValueError(f"states have shape (batch, ..., d); got {tuple(state.shape)}")
        width = state.shape[-1]
        if width % self.state_factor:
            raise ValueError(
                f"{self.name!r} states have last dim 2*d (position, momentum); got {width}"
            )
        return width // self.state_factor

    def data_shape(self, state: Tensor) -> tuple[int, ...]:
        """Shape of the data (and of network outputs) that goes with ``state``."""
        return (*state.shape[:-1], self.data_dim(state))

    def positions(self, state: Tensor) -> Tensor:
        """The data (position) part of a state."""
        return state[..., : self.data_dim(state)]

    def momenta(self, state: Tensor) -> Tensor:
        """The momentum/velocity part of a phase-space state."""
        if self.state_factor == 1:
            raise ValueError(f"{self.name!r} has no momentum: its state is the data itself")
        return state[..., self.data_dim(state) :]

    def lift(self, data_part: Tensor) -> Tensor:
        """Place a data-shaped tensor where the noise enters the state (momentum slot for CLD)."""
        if self.state_factor == 1:
            return data_part
        return torch.cat([torch.zeros_like(data_part), data_part], dim=-1)

    def check_output(self, output: Tensor, state: Tensor) -> None:
        """Raise unless ``output`` has the data shape that goes with ``state``."""
        expected = self.data_shape(state)
        if tuple(output.shape) != expected:
            raise ValueError(
                f"network output must have the data shape {expected}, got {tuple(output.shape)}"
            )

    def initial_state(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The state at t = 0 for data ``x0`` (momentum drawn from its initial law for CLD)."""
        return x0

    # ------------------------------------------------------------------ the process
    @abc.abstractmethod
    def drift(self, x: Tensor, t: TimeLike) -> Tensor:
        """Forward drift f(x, t), same shape as the state ``x``."""

    @abc.abstractmethod
    def diffusion(self, t: TimeLike) -> Tensor:
        """Scalar diffusion g(t) (acting on the momentum only for phase-space processes)."""

    @abc.abstractmethod
    def prior_sample(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Draw the state at T from the prior; ``shape`` is the DATA shape (batch, ..., d)."""

    def reverse_drift(
        self, state: Tensor, score: Tensor, t: TimeLike, *, probability_flow: bool = False
    ) -> Tensor:
        """Drift of the generative process in t (integrated with dt < 0), paper Eqs. 2/14 and A.2:

        reverse SDE  f(x, t) - g(t)^2 s,   probability-flow ODE  f(x, t) - 1/2 g(t)^2 s,
        with the data-shaped score s placed where the noise enters (the velocity for CLD-HSM,
        whose reversal needs only the velocity score of the joint density).
        """
        tt = self.time_tensor(t, batch=state.shape[0], device=state.device)
        g2 = self.broadcast(self.diffusion(tt) ** 2, state)
        factor = 0.5 if probability_flow else 1.0
        return self.drift(state, t) - factor * g2 * self.lift(score)

    # ------------------------------------------------------------------ network parameterisation
    @abc.abstractmethod
    def network_inputs(self, state: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """``(x_in, c_noise)``: network input of the state's shape and a (batch,) noise code."""

    @abc.abstractmethod
    def score_from_output(self, output: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """Turn a data-shaped network output into what the solvers' ``score_fn`` returns."""

    @abc.abstractmethod
    def output_from_score(self, score: Tensor, state: Tensor, t: TimeLike) -> Tensor:
        """Inverse of :meth:`score_from_output`: the output an ideal network would produce."""

    def network_score(self, network: NetFn, state: Tensor, t: TimeLike) -> Tensor:
        """The learned score s_theta(x, t) = score_from_output(network(network_inputs(x, t))).

        What a policy's ``score_fn`` returns; processes whose inputs and outputs share
        coefficients override it to compute them once per network call.
        """
        x_in, c_noise = self.network_inputs(state, t)
        return self.score_from_output(network(x_in, c_noise), state, t)

    @abc.abstractmethod
    def loss(
        self,
        net_fn: NetFn,
        x0: Tensor,
        generator: torch.Generator | None = None,
        t: TimeLike | None = None,
    ) -> Tensor:
        """Per-sample training loss, shape (batch,), mean over the data elements.

        ``t`` defaults to :meth:`sample_time`; pass a float or (batch,) tensor to evaluate the loss
        at chosen times (loss-versus-time plots, tests against closed forms).
        """

    # ------------------------------------------------------------------ helpers for subclasses
    def _check_data(self, x0: Tensor) -> Tensor:
        """Validate training data; a flat batch (batch,) is read as (batch, 1)."""
        if not isinstance(x0, Tensor) or x0.dim() < 1 or x0.shape[0] == 0:
            raise ValueError("x0 must be a tensor of shape (batch, ...) with batch >= 1")
        if not x0.is_floating_point():
            raise ValueError(f"x0 must be floating point, got {x0.dtype}")
        return x0[:, None] if x0.dim() == 1 else x0

    def _loss_times(
        self, x0: Tensor, t: TimeLike | None, generator: torch.Generator | None
    ) -> Tensor:
        batch = x0.shape[0]
        if t is None:
            return self.sample_time(batch, generator=generator, device=x0.device, dtype=x0.dtype)
        return self.batch_times(t, batch, x0)

    def _run_net(self, net_fn: NetFn, state: Tensor, t: Tensor) -> Tensor:
        x_in, c_noise = self.network_inputs(state, t)
        output = net_fn(x_in, c_noise)
        self.check_output(output, state)
        return output

"""The diffusion policy: an observation history in, an action chunk out, for any SDE and solver.

Training (paper Section 3.2): actions a_0 (a chunk of ``horizon`` agent targets, min-max normalised to
[-1, 1]) are noised with the SDE's exact kernel and the decoder learns the SDE's target through
``sde.loss``. Inference (Section 3.3, Algorithm 2): a prior sample is carried to t_eps by
``course_lib.solvers.sample`` with the score

    s_theta(x, t, o) = sde.score_from_output(decoder(*sde.network_inputs(x, t), encoder(o)), x, t),

then un-normalised to world pixels. Nothing here depends on which SDE is used.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import config, sdes, solvers
from course_lib.checkpoints import (
    FORMAT_VERSION,
    POLICY_FORMAT,
    TRAINING_FORMAT,
    CheckpointError,
    atomic_torch_save,
    check_keys,
    check_payload,
    check_tensors,
    json_field,
    read_checkpoint,
)
from course_lib.data import MinMaxNormalizer
from course_lib.nets import DECODER_SIZES, build_decoder, build_encoder, inference_call
from course_lib.solvers.grids import check_steps

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "DiffusionPolicy",
    "NonFiniteActionError",
    "ObservationRangeWarning",
    "PolicyConfig",
    "atomic_torch_save",
    "check_payload",
    "read_checkpoint",
    "sampler_choice",
]

#: Observation vector size per step for the low-dimensional kinds (see ``course_lib.pusht.observe``).
OBS_DIMS = {"keypoints": 20, "state": 5}

#: Normalised observations beyond +-this (the training data span [-1, 1]) trigger a warning in ``act``
#: (the test seeds' legal starts reach 2.13 on some keypoint features, so 2 would warn in evaluations).
OBS_RANGE_WARNING = 3.0


class NonFiniteActionError(FloatingPointError):
    """The sampler produced NaN or inf actions (the environment must never receive them)."""


class ObservationRangeWarning(UserWarning):
    """An observation lies far outside the range the policy was trained on."""


#: ``PolicyConfig`` fields that set how a policy acts, not what it learns: training never reads them,
#: so a run resumes with other values and evaluation may override them.
ROLLOUT_FIELDS = ("n_action_steps", "solver", "steps")


@dataclass
class PolicyConfig:
    """Everything needed to rebuild a policy (saved inside every checkpoint)."""

    sde: str = sdes.DEFAULT
    sde_overrides: dict[str, Any] = field(default_factory=dict)
    obs_type: str = "keypoints"
    n_obs: int = 2
    horizon: int = 16
    n_action_steps: int = 8
    action_kind: str = "absolute"
    decoder: str = "course"
    solver: str | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.sde not in sdes.names():
            raise ValueError(f"unknown SDE {self.sde!r}; choose one of {list(sdes.names())}")
        if self.obs_type not in (*OBS_DIMS, "pixels"):
            raise ValueError(
                f"unknown obs_type {self.obs_type!r}; choose keypoints, state or pixels"
            )
        if not 1 <= self.n_action_steps <= self.horizon:
            raise ValueError(
                f"n_action_steps must be in [1, horizon={self.horizon}], got {self.n_action_steps}"
            )
        if self.decoder not in DECODER_SIZES:
            raise ValueError(
                f"unknown decoder {self.decoder!r}; choose one of {sorted(DECODER_SIZES)}"
            )
        if self.action_kind not in ("absolute", "delta"):
            raise ValueError(f"action_kind must be 'absolute' or 'delta', got {self.action_kind!r}")
        default_solver, default_steps = sdes.sde_class(self.sde).default_sampler
        self.solver = default_solver if self.solver is None else self.solver
        self.steps = default_steps if self.steps is None else self.steps
        self.solver, self.steps = sampler_choice(self, self.solver, self.steps)  # "", 0: errors

    @property
    def is_image(self) -> bool:
        return self.obs_type == "pixels"

    @property
    def obs_dim(self) -> int:
        """Size of the low-dimensional observation per step (the agent position for images)."""
        return 2 if self.is_image else OBS_DIMS[self.obs_type]


def sampler_choice(cfg: PolicyConfig, solver: str | None, steps: int | None) -> tuple[str, int]:
    """The (solver, steps) to sample with: ``None`` means the config's own; anything else is
    checked, so ``""``, 0, negative, bool or float steps are a ValueError, not the default."""
    solver = cfg.solver if solver is None else solver
    offered = sdes.sde_class(cfg.sde).solvers
    if solver not in offered:
        raise ValueError(f"unknown solver {solver!r} for {cfg.sde!r}; choose one of {offered}")
    return solver, check_steps(cfg.steps if steps is None else steps)


class DiffusionPolicy(nn.Module):
    """Encoder + decoder + SDE; ``act`` returns absolute agent targets (batch, horizon, 2) in pixels."""

    def __init__(
        self,
        cfg: PolicyConfig,
        obs_normalizer: MinMaxNormalizer,
        action_normalizer: MinMaxNormalizer,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        self.sde = sdes.get(cfg.sde, **cfg.sde_overrides)
        self.obs_normalizer = obs_normalizer
        self.action_normalizer = action_normalizer
        self.metadata: dict[str, Any] = dict(metadata or {})
        cond_dim = DECODER_SIZES[cfg.decoder].cond_dim
        self.encoder = build_encoder(cfg.obs_type, cfg.n_obs, cfg.obs_dim, cond_dim)
        self.decoder = build_decoder(cfg.decoder, cfg.horizon, 2 * self.sde.state_factor, 2)

    # ------------------------------------------------------------------ properties

    @property
    def obs_type(self) -> str:
        """The observation kind of ``course_lib.pusht.observe`` this policy expects."""
        return "pixels_agent_pos" if self.cfg.is_image else self.cfg.obs_type

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ observations

    def encode(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Normalised observation batch -> conditioning features (batch, cond_dim).

        ``obs["obs"]`` is (batch, n_obs, D) normalised low-dimensional vectors (agent positions for
        image policies); image policies also take ``obs["images"]`` (batch, n_obs, 3, 84, 84) in [0, 1].
        """
        if self.cfg.is_image:
            return self.encoder(obs["images"], obs["obs"])
        return self.encoder(obs["obs"])

    # ------------------------------------------------------------------ training

    def loss(
        self, obs: dict[str, torch.Tensor], actions: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Mean training loss of the SDE's objective on a normalised batch (paper Eqs. 4, 6, 9)."""
        cond = self.encode(obs)
        return self.sde.loss(
            lambda x_in, c: self.decoder(x_in, c, cond), actions, generator=generator
        ).mean()

    # ------------------------------------------------------------------ sampling

    def score_fn(self, cond: torch.Tensor):
        """The learned score s_theta(x, t, o) for fixed observation features, as solvers expect it."""

        def network(x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
            return inference_call(self.decoder, x_in, c_noise, cond)

        def score(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.sde.network_score(network, state, t)

        return score

    @torch.no_grad()
    def sample_normalized(
        self,
        obs: dict[str, torch.Tensor],
        solver: str | None = None,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        return_path: bool = False,
    ):
        """Reverse-time sampling of a normalised action chunk (batch, horizon, 2), on the policy's
        device whichever device ``generator`` draws on."""
        solver, steps = sampler_choice(self.cfg, solver, steps)
        cond = self.encode(obs)
        shape = (cond.shape[0], self.cfg.horizon, 2)
        return solvers.sample(
            self.sde,
            self.score_fn(cond),
            shape,
            solver=solver,
            steps=steps,
            generator=generator,
            return_path=return_path,
            device=cond.device,
        )

    def prepare_obs(self, obs_history: Any) -> dict[str, torch.Tensor]:
        """Raw observation history -> normalised tensors on the policy's device.

        Low-dimensional: array (batch, n_obs, D) or (n_obs, D). Image policies: a dict with
        ``pixels`` (batch, n_obs, H, W, 3) uint8 and ``agent_pos`` (batch, n_obs, 2).
        """
        dev = self.device
        if self.cfg.is_image:
            if not isinstance(obs_history, dict) or not {"pixels", "agent_pos"} <= set(obs_history):
                raise ValueError(
                    "an image policy needs a dict with 'pixels' and 'agent_pos' histories"
                )
            pixels = torch.as_tensor(np.asarray(obs_history["pixels"]))
            pos = torch.as_tensor(np.asarray(obs_history["agent_pos"]), dtype=torch.float32)
            if pixels.dim() == 4:
                pixels, pos = pixels[None], pos[None]
            from course_lib.data import center_crop

            images = center_crop(pixels.permute(0, 1, 4, 2, 3).float() / 255.0, 84)
            normalized = self.obs_normalizer.normalize(pos)
            _warn_if_far_outside(normalized)
            return {"images": images.to(dev), "obs": normalized.to(dev)}
        obs = torch.as_tensor(np.asarray(obs_history), dtype=torch.float32)
        if obs.dim() == 2:
            obs = obs[None]
        want = (self.cfg.n_obs, OBS_DIMS[self.cfg.obs_type])
        if obs.dim() != 3 or tuple(obs.shape[1:]) != want:
            raise ValueError(
                f"observation history must have shape (batch, {want[0]}, {want[1]}), got {tuple(obs.shape)}"
            )
        if not torch.isfinite(obs).all():
            raise ValueError("observation history contains NaN or inf")
        normalized = self.obs_normalizer.normalize(obs)
        _warn_if_far_outside(normalized)
        return {"obs": normalized.to(dev)}

    @torch.inference_mode()
    def act(
        self,
        obs_history: Any,
        solver: str | None = None,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> np.ndarray:
        """Absolute agent targets (batch, horizon, 2) in world pixels for an observation history.

        ``solver``/``steps`` of None use the policy's own sampler. Observations far outside the
        training range (normalised beyond +-``OBS_RANGE_WARNING``) give an ``ObservationRangeWarning``;
        NaN or inf actions raise ``NonFiniteActionError`` instead of reaching the environment.
        """
        obs = self.prepare_obs(obs_history)
        chunk = self.sample_normalized(obs, solver, steps, generator)
        actions = self.action_normalizer.unnormalize(chunk.float().cpu())
        if self.cfg.action_kind == "delta":
            from course_lib.data import delta_to_absolute

            agent = _current_agent_position(obs_history, self.cfg)
            actions = delta_to_absolute(actions, agent)
        if not torch.isfinite(actions).all():
            bad = int((~torch.isfinite(actions)).sum())
            raise NonFiniteActionError(
                f"the policy produced {bad} NaN or inf action values of {actions.numel()}; "
                "check that the observations are in world pixels like the training data"
            )
        return actions.numpy()

    # ------------------------------------------------------------------ persistence

    def checkpoint_payload(self) -> dict[str, Any]:
        """Everything ``load`` needs, as plain tensors and JSON-able values (weights_only safe)."""
        return {
            "format": POLICY_FORMAT,
            "format_version": FORMAT_VERSION,
            "config": json.dumps(dataclasses.asdict(self.cfg)),
            "metadata": json.dumps(self.metadata),
            "model": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "obs_normalizer": self.obs_normalizer.state_dict(),
            "action_normalizer": self.action_normalizer.state_dict(),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the policy atomically (temporary file, then rename)."""
        return atomic_torch_save(self.checkpoint_payload(), path)

    @classmethod
    def from_payload(
        cls,
        payload: dict[str, Any],
        device: str | torch.device = "auto",
        source: str = "checkpoint",
    ) -> DiffusionPolicy:
        """Rebuild a policy from ``checkpoint_payload()``; every defect is a ``CheckpointError``
        naming ``source`` (the file) and the problem."""
        check_payload(payload, "policy", source)
        raw_cfg = json_field(payload, "config", source)
        check_keys(raw_cfg, _CONFIG_FIELDS, "the policy config", source)
        try:
            cfg = PolicyConfig(**raw_cfg)
            normalizers = []
            for key, dim in (("obs_normalizer", cfg.obs_dim), ("action_normalizer", 2)):
                state = _tensor_dict(payload, key, source)
                check_tensors(state, dict.fromkeys(("low", "high"), torch.zeros(dim)), key, source)
                normalizers.append(MinMaxNormalizer.from_state_dict(state))
            policy = cls(cfg, *normalizers, metadata=json_field(payload, "metadata", source))
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{source}: {exc}") from exc
        expected = policy.state_dict()
        check_tensors(_tensor_dict(payload, "model", source), expected, "weight", source)
        policy.load_state_dict(payload["model"])
        return policy.to(config.device(device)).eval()

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "auto") -> DiffusionPolicy:
        """Load a policy saved with ``save`` (or the ``policy`` part of a training checkpoint)."""
        payload = read_checkpoint(path)
        if payload.get("format") == TRAINING_FORMAT:
            payload = payload.get("policy")
            if not isinstance(payload, dict):
                raise CheckpointError(f"{path}: the training checkpoint holds no policy")
        return cls.from_payload(payload, device, source=str(path))


_CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(PolicyConfig))


def _tensor_dict(payload: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise CheckpointError(f"{source}: the checkpoint's {key!r} entry is missing or not a dict")
    return value


def _warn_if_far_outside(normalized: torch.Tensor) -> None:
    """Warn when a normalised observation lies beyond +-OBS_RANGE_WARNING (training: [-1, 1])."""
    worst = float(normalized.abs().max()) if normalized.numel() else 0.0
    if worst > OBS_RANGE_WARNING:
        warnings.warn(
            f"observation far outside the training range: a feature normalises to {worst:.3g} "
            f"(training data span [-1, 1]); the actions are extrapolations",
            ObservationRangeWarning,
            stacklevel=3,
        )


def _current_agent_position(obs_history: Any, cfg: PolicyConfig) -> torch.Tensor:
    """Agent position at the last observation step: (batch, 2) world pixels."""
    if cfg.is_image:
        pos = np.asarray(obs_history["agent_pos"])
    else:
        pos = (
            np.asarray(obs_history)[..., -2:]
            if cfg.obs_type == "keypoints"
            else np.asarray(obs_history)[..., :2]
        )
    pos = torch.as_tensor(pos, dtype=torch.float32)
    if pos.dim() == 2:
        pos = pos[None]
    return pos[:, -1]

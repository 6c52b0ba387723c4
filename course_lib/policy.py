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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import config, sdes, solvers
from course_lib.data import MinMaxNormalizer
from course_lib.nets import DECODER_SIZES, build_decoder, build_encoder

#: Bump when the checkpoint layout changes; ``load`` refuses other versions with a clear message.
FORMAT_VERSION = 1
_FORMAT_TAG = "course_lib.DiffusionPolicy"

#: Observation vector size per step for the low-dimensional kinds (see ``course_lib.pusht.observe``).
OBS_DIMS = {"keypoints": 20, "state": 5}

#: Default sampler per SDE when ``act`` is called without one (shipped models carry their best cell).
DEFAULT_SAMPLER = {
    "vp": ("euler", 50),
    "ve": ("em", 50),
    "cld": ("euler", 50),
    "cld-hsm": ("em", 50),
    "ve-edm": ("heun", 10),
}


@dataclass
class PolicyConfig:
    """Everything needed to rebuild a policy (saved inside every checkpoint)."""

    sde: str = "vp"
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
        if self.sde not in sdes.NAMES:
            raise ValueError(f"unknown SDE {self.sde!r}; choose one of {list(sdes.NAMES)}")
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
        if self.solver is None or self.steps is None:
            solver, steps = DEFAULT_SAMPLER[self.sde]
            self.solver = self.solver or solver
            self.steps = self.steps or steps

    @property
    def is_image(self) -> bool:
        return self.obs_type == "pixels"

    @property
    def obs_dim(self) -> int:
        """Size of the low-dimensional observation per step (the agent position for images)."""
        return 2 if self.is_image else OBS_DIMS[self.obs_type]


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

        def score(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            x_in, c_noise = self.sde.network_inputs(state, t)
            return self.sde.score_from_output(self.decoder(x_in, c_noise, cond), state, t)

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
        """Reverse-time sampling of a normalised action chunk (batch, horizon, 2)."""
        cond = self.encode(obs)
        shape = (cond.shape[0], self.cfg.horizon, 2)
        return solvers.sample(
            self.sde,
            self.score_fn(cond),
            shape,
            solver=solver or self.cfg.solver,
            steps=steps or self.cfg.steps,
            generator=generator,
            return_path=return_path,
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
            return {"images": images.to(dev), "obs": self.obs_normalizer.normalize(pos).to(dev)}
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
        return {"obs": self.obs_normalizer.normalize(obs).to(dev)}

    @torch.no_grad()
    def act(
        self,
        obs_history: Any,
        solver: str | None = None,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> np.ndarray:
        """Absolute agent targets (batch, horizon, 2) in world pixels for an observation history."""
        obs = self.prepare_obs(obs_history)
        chunk = self.sample_normalized(obs, solver, steps, generator)
        actions = self.action_normalizer.unnormalize(chunk.float().cpu())
        if self.cfg.action_kind == "delta":
            from course_lib.data import delta_to_absolute

            agent = _current_agent_position(obs_history, self.cfg)
            actions = delta_to_absolute(actions, agent)
        return actions.numpy()

    # ------------------------------------------------------------------ persistence

    def checkpoint_payload(self) -> dict[str, Any]:
        """Everything ``load`` needs, as plain tensors and JSON-able values (weights_only safe)."""
        return {
            "format": _FORMAT_TAG,
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
        cls, payload: dict[str, Any], device: str | torch.device = "auto"
    ) -> DiffusionPolicy:
        check_payload(payload, "policy")
        cfg = PolicyConfig(**json.loads(payload["config"]))
        policy = cls(
            cfg,
            MinMaxNormalizer.from_state_dict(payload["obs_normalizer"]),
            MinMaxNormalizer.from_state_dict(payload["action_normalizer"]),
            metadata=json.loads(payload["metadata"]),
        )
        policy.load_state_dict(payload["model"])
        return policy.to(config.device(device)).eval()

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "auto") -> DiffusionPolicy:
        """Load a policy saved with ``save`` (or the ``policy`` part of a training checkpoint)."""
        payload = read_checkpoint(path)
        if payload.get("format") == "course_lib.TrainingCheckpoint":
            payload = payload["policy"]
        return cls.from_payload(payload, device)


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


# ---------------------------------------------------------------------- checkpoint files


def atomic_torch_save(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, foreign or of another format version."""


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; any failure becomes a ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt zip, pickle with code, truncated file...
        raise CheckpointError(
            f"{path} is not a readable course_lib checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(payload, dict) or "format" not in payload:
        raise CheckpointError(f"{path} is not a course_lib checkpoint (no format tag)")
    return payload


def check_payload(payload: dict[str, Any], what: str) -> None:
    """Refuse foreign payloads and other format versions with a message that says which."""
    if payload.get("format") != _FORMAT_TAG:
        raise CheckpointError(
            f"expected a {what} checkpoint ({_FORMAT_TAG}), found {payload.get('format')!r}"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format version {version} is not supported by this course_lib "
            f"(expects {FORMAT_VERSION}); retrain or use the matching course_lib version"
        )


# ---------------------------------------------------------------------- shipped models

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def pretrained_names() -> list[str]:
    """Names of the checkpoints shipped inside the package."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def load_pretrained(name: str = "vp", device: str | torch.device = "auto") -> DiffusionPolicy:
    """Load ``course_lib/pretrained/<name>.pt`` (its metadata records the producing command)."""
    path = PRETRAINED_DIR / f"{name}.pt"
    if not path.is_file():
        raise ValueError(f"no shipped checkpoint {name!r}; available: {pretrained_names()}")
    return DiffusionPolicy.load(path, device=device)

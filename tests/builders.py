"""Small constructors and helpers shared by the test modules."""

from __future__ import annotations

import torch

from course_lib.data import MinMaxNormalizer
from course_lib.policy import DiffusionPolicy, PolicyConfig

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def world_normalizers(obs_dim: int = 20) -> tuple[MinMaxNormalizer, MinMaxNormalizer]:
    """Normalisers that map the 512 px world to [-1, 1] for observations and actions."""
    obs = MinMaxNormalizer.fit(torch.stack([torch.zeros(obs_dim), torch.full((obs_dim,), 512.0)]))
    act = MinMaxNormalizer.fit(torch.stack([torch.zeros(2), torch.full((2,), 512.0)]))
    return obs, act


def make_policy(sde: str = "vp", decoder: str = "tiny", **kw) -> DiffusionPolicy:
    """An untrained, seeded policy (keypoint observation unless told otherwise)."""
    torch.manual_seed(0)
    return DiffusionPolicy(PolicyConfig(sde=sde, decoder=decoder, **kw), *world_normalizers())

"""Min-max normalisation of observations and actions onto [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch


class MinMaxNormalizer:
    """Per-feature affine map of [low, high] onto [-1, 1]: y = (x - centre) / half_range.

    Features are the last dimension; ``fit`` takes min and max over all leading dimensions. A
    feature whose range is below ``eps`` gets half_range 1, so it maps to 0 instead of blowing up.
    """

    def __init__(self, low: torch.Tensor, high: torch.Tensor, eps: float = 1e-6) -> None:
        low = torch.as_tensor(low, dtype=torch.float32).detach().clone()
        high = torch.as_tensor(high, dtype=torch.float32).detach().clone()
        if low.shape != high.shape or low.dim() != 1:
            raise ValueError(
                f"low and high must be 1-D of equal shape, got {low.shape}, {high.shape}"
            )
        if not torch.all(high >= low):
            raise ValueError("high must be >= low for every feature")
        self.low, self.high = low, high
        half = (high - low) / 2
        self.centre = (high + low) / 2
        self.half_range = torch.where(half < eps, torch.ones_like(half), half)

    @classmethod
    def fit(cls, x: torch.Tensor | np.ndarray) -> MinMaxNormalizer:
        """Min and max of every feature (last dimension) over all other dimensions."""
        flat = torch.as_tensor(x, dtype=torch.float32).reshape(-1, np.shape(x)[-1])
        if len(flat) == 0 or not torch.isfinite(flat).all():
            raise ValueError("fit needs a non-empty, finite tensor")
        return cls(flat.min(dim=0).values, flat.max(dim=0).values)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.shape[-1:] != self.low.shape:
            raise ValueError(
                f"expected last dimension {self.low.shape[0]}, got shape {tuple(x.shape)}"
            )
        return x

    def normalize(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = self._check(x)
        return (x - self.centre.to(x.device)) / self.half_range.to(x.device)

    def unnormalize(self, y: torch.Tensor | np.ndarray) -> torch.Tensor:
        y = self._check(y)
        return y * self.half_range.to(y.device) + self.centre.to(y.device)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors (safe inside a ``weights_only=True`` checkpoint)."""
        return {"low": self.low.clone(), "high": self.high.clone()}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> MinMaxNormalizer:
        missing = {"low", "high"} - set(state)
        if missing:
            raise ValueError(f"normaliser state lacks {sorted(missing)}")
        return cls(state["low"], state["high"])

    def __repr__(self) -> str:
        return f"MinMaxNormalizer(low={self.low.tolist()}, high={self.high.tolist()})"

"""Intervals for evaluation results: how far 50 episodes pin down a success rate or a mean score.

* Success rate: Wilson's score interval for a binomial proportion (Wilson 1927). With k successes in
  n episodes, p = k/n and z the normal quantile,
  centre = (p + z^2/2n) / (1 + z^2/n),  half-width = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n);
  unlike p +- z sqrt(p(1-p)/n) it stays inside [0, 1] and is not empty at 0 or n successes.
* Mean score: the percentile bootstrap (Efron), the 2.5 % and 97.5 % quantiles of the means of
  resamples drawn with replacement from the episode scores, seeded so a table is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (low, high) of a proportion with ``successes`` out of ``n``."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, not rounding residue
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def bootstrap_mean_interval(
    values: Sequence[float], level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval (low, high) of the mean of ``values``."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError("need a non-empty 1-D sequence of finite values")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def format_rate(successes: int, n: int) -> str:
    """'34 % [22, 48]': a success rate with its Wilson 95 % interval, in percent."""
    low, high = wilson_interval(successes, n)
    return f"{100 * successes / n:.0f} % [{100 * low:.0f}, {100 * high:.0f}]"


def format_score(values: Sequence[float]) -> str:
    """'0.912 [0.88, 0.94]': a mean score with its bootstrap 95 % interval."""
    low, high = bootstrap_mean_interval(values)
    return f"{float(np.mean(values)):.3f} [{low:.2f}, {high:.2f}]"

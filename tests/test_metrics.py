"""Intervals against closed forms and against their defining coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.metrics import (
    bootstrap_mean_interval,
    format_rate,
    format_score,
    wilson_interval,
)


def test_wilson_interval_matches_the_closed_form_and_stays_in_the_unit_interval():
    # 17 of 50: centre (0.34 + 1.96^2/100)/(1 + 1.96^2/50) and its half-width by hand
    z = 1.959963984540054
    p, n = 17 / 50, 50
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    low, high = wilson_interval(17, 50)
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert (low, high) == pytest.approx((0.2244, 0.4785), abs=1e-4)
    zero = wilson_interval(0, 50)
    assert zero[0] == 0.0 and 0.05 < zero[1] < 0.08  # not empty at 0 successes
    assert wilson_interval(50, 50)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(51, 50)


def test_wilson_interval_covers_the_true_rate_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    p, n, trials = 0.3, 50, 4000
    hits = sum(
        lo <= p <= hi for lo, hi in (wilson_interval(int(k), n) for k in rng.binomial(n, p, trials))
    )
    assert 0.93 < hits / trials < 0.97


def test_bootstrap_interval_of_a_mean_has_the_normal_width_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = rng.normal(0.8, 0.2, size=400)
    low, high = bootstrap_mean_interval(x)
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.08)
    assert low < x.mean() < high
    assert bootstrap_mean_interval(x) == (low, high)
    with pytest.raises(ValueError):
        bootstrap_mean_interval([])


def test_formatted_cells_show_the_estimate_and_its_interval():
    assert format_rate(17, 50) == "34 % [22, 48]"
    assert format_score([1.0, 0.5, 0.75, 1.0]).startswith("0.812 [")

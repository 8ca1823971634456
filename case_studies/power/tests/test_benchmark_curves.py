"""powergrid.benchmark's learning-curve band: mean and Student-t band over seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from powergrid.benchmark import curve_band


def test_band_over_seeds_on_the_common_steps():
    a = pd.DataFrame({"env_steps": [0.0, 10.0, 20.0], "cost_mean": [0.0, 10.0, 20.0]})
    b = pd.DataFrame({"env_steps": [0.0, 10.0], "cost_mean": [2.0, 12.0]})
    x, mean, half = curve_band([a, b], points=11)
    assert x[0] == 0.0 and x[-1] == 10.0  # only the steps both seeds reached
    np.testing.assert_allclose(mean, x + 1.0)
    # two seeds 2 apart: std sqrt(2), t(0.975, 1) = 12.706 -> half-width 12.706
    np.testing.assert_allclose(half, 12.7062047, rtol=1e-6)
    x1, m1, h1 = curve_band([a], points=5)
    np.testing.assert_allclose(m1, x1)
    assert math.isinf(h1[0])
    assert curve_band([], points=5)[0].size == 0


def test_one_seed_has_no_band():
    a = pd.DataFrame({"env_steps": [0.0, 5.0], "cost_mean": [1.0, 3.0]})
    _, mean, half = curve_band([a], points=3)
    assert mean.tolist() == pytest.approx([1.0, 2.0, 3.0])
    assert all(math.isinf(h) for h in half)

import numpy as np
import pytest

from powergrid.utils.cost import energy_cost, quadratic_cost, storage_degradation_cost
from powergrid.utils.safety import count_violations, line_overload, voltage_violation


def test_quadratic_cost():
    assert quadratic_cost(2.0, 0.5, 10.0, 3.0) == pytest.approx(25.0)
    assert quadratic_cost(2.0, 0.5, 10.0, 3.0, dt=0.5) == pytest.approx(12.5)


def test_energy_cost_import_export():
    assert energy_cost(1.0, 40.0) == 40.0
    assert energy_cost(-1.0, 40.0, sell_price_ratio=0.5) == -20.0


def test_degradation_symmetric():
    assert storage_degradation_cost(-1.0, 1.0, 2.0) == storage_degradation_cost(1.0, 1.0, 2.0)


def test_voltage_violation_magnitude_and_nan():
    v = np.array([0.94, 1.0, 1.07, np.nan])
    assert voltage_violation(v) == pytest.approx(0.01 + 0.02)


def test_line_overload_in_rating_units():
    assert line_overload(np.array([50.0, 150.0])) == pytest.approx(0.5)
    assert count_violations(np.array([0.9, 1.0]), np.array([120.0])) == 2

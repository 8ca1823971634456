"""Cost functions for one device or grid, as Python floats. Units: MW, MWh, $ per step.

The maths live once in :mod:`powergrid.physics` (they broadcast over arrays for the
vectorized env); these wrappers give the scalar callers plain floats.
"""

from __future__ import annotations

import numpy as np

from powergrid import physics


def quadratic_cost(p_MW: float, a: float, b: float, c: float, dt: float = 1.0) -> float:
    """Fuel cost ``(a P^2 + b P + c) * dt``; callers pass ``c = 0`` for an offline unit."""
    return float(physics.quadratic_cost(p_MW, a, b, c, dt))


def storage_degradation_cost(p_MW: float, dt: float, cost_per_MWh: float) -> float:
    """Throughput-based degradation: every MWh through the battery wears it equally."""
    return float(physics.storage_degradation_cost(p_MW, dt, cost_per_MWh))


def energy_cost(p_import_MW: float, price: float, dt: float = 1.0,
                sell_price_ratio: float = 1.0) -> float:
    """Settlement with the DSO: import costs ``price``; export earns ``ratio * price``."""
    return float(physics.energy_cost(p_import_MW, price, dt, sell_price_ratio))


def curtailment_cost(p_available_MW: float, p_MW: float, cost_per_MWh: float,
                     dt: float = 1.0) -> float:
    return float(physics.curtailment_cost(p_available_MW, p_MW, cost_per_MWh, dt))


def tap_change_cost(old_tap: int, new_tap: int, cost_per_step: float) -> float:
    return float(physics.tap_change_cost(int(old_tap), int(new_tap), cost_per_step))


def voltage_deviation(vm_pu: np.ndarray, target: float = 1.0) -> float:
    return float(np.sum(np.abs(np.asarray(vm_pu) - target)))

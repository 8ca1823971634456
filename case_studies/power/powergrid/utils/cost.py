"""Cost functions. Units: MW, MWh, $ — all per time step of ``dt`` hours."""

from __future__ import annotations

import numpy as np


def quadratic_cost(p_MW: float, a: float, b: float, c: float, dt: float = 1.0) -> float:
    """Fuel cost ``(a P^2 + b P + c) * dt`` in $ for output ``p_MW`` over ``dt`` hours.

    The no-load term ``c`` applies only while the unit is online; callers pass
    ``c = 0`` for an offline unit.
    """
    return float((a * p_MW * p_MW + b * p_MW + c) * dt)


def storage_degradation_cost(p_MW: float, dt: float, cost_per_MWh: float) -> float:
    """Throughput-based degradation: every MWh through the battery wears it equally."""
    return float(abs(p_MW) * dt * cost_per_MWh)


def energy_cost(p_import_MW: float, price: float, dt: float = 1.0,
                sell_price_ratio: float = 1.0) -> float:
    """Settlement with the DSO: import costs ``price``; export earns ``ratio * price``."""
    if p_import_MW >= 0:
        return float(p_import_MW * price * dt)
    return float(p_import_MW * price * sell_price_ratio * dt)


def curtailment_cost(p_available_MW: float, p_MW: float, cost_per_MWh: float,
                     dt: float = 1.0) -> float:
    return float(max(0.0, p_available_MW - p_MW) * cost_per_MWh * dt)


def tap_change_cost(old_tap: int, new_tap: int, cost_per_step: float) -> float:
    return float(abs(int(new_tap) - int(old_tap)) * cost_per_step)


def voltage_deviation(vm_pu: np.ndarray, target: float = 1.0) -> float:
    return float(np.sum(np.abs(np.asarray(vm_pu) - target)))

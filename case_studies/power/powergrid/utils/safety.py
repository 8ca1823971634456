"""Safety metrics: how far the grid is outside its limits (0 = safe).

Violations are measured as magnitudes, not counts, so that a policy gets a gradient
towards feasibility: 0.94 pu is better than 0.90 pu.
"""

from __future__ import annotations

import numpy as np

from powergrid import physics

V_MIN_PU = 0.95
V_MAX_PU = 1.05


def voltage_violation(vm_pu: np.ndarray, v_min: float = V_MIN_PU, v_max: float = V_MAX_PU) -> float:
    """Sum over buses of the distance outside ``[v_min, v_max]`` in pu (NaN buses ignored)."""
    return float(physics.voltage_violation(vm_pu, v_min, v_max))


def line_overload(loading_pct: np.ndarray, limit_pct: float = 100.0) -> float:
    """Sum of overloads above ``limit_pct``, in units of the rating (150 % -> 0.5)."""
    return float(physics.line_overload(loading_pct, limit_pct))


def limit_violation(value: float, low: float, high: float) -> float:
    return float(physics.limit_violation(value, low, high))


def count_violations(vm_pu: np.ndarray, loading_pct: np.ndarray,
                     v_min: float = V_MIN_PU, v_max: float = V_MAX_PU) -> int:
    v = np.asarray(vm_pu)
    load = np.asarray(loading_pct)
    return int(np.sum((v < v_min) | (v > v_max)) + np.sum(load > 100.0))

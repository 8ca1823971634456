"""Safety metrics: how far the grid is outside its limits (0 = safe).

Violations are measured as magnitudes, not counts, so that a policy gets a gradient
towards feasibility: 0.94 pu is better than 0.90 pu.
"""

from __future__ import annotations

import numpy as np

V_MIN_PU = 0.95
V_MAX_PU = 1.05


def voltage_violation(vm_pu: np.ndarray, v_min: float = V_MIN_PU, v_max: float = V_MAX_PU) -> float:
    """Sum over buses of the distance outside ``[v_min, v_max]`` in pu (NaN buses ignored)."""
    v = np.asarray(vm_pu, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.sum(np.maximum(0.0, v_min - v)) + np.sum(np.maximum(0.0, v - v_max)))


def line_overload(loading_pct: np.ndarray, limit_pct: float = 100.0) -> float:
    """Sum of overloads above ``limit_pct``, in units of the rating (150 % -> 0.5)."""
    loading = np.asarray(loading_pct, dtype=np.float64)
    loading = loading[np.isfinite(loading)]
    return float(np.sum(np.maximum(0.0, loading - limit_pct)) / 100.0)


def limit_violation(value: float, low: float, high: float) -> float:
    return float(max(0.0, low - value) + max(0.0, value - high))


def count_violations(vm_pu: np.ndarray, loading_pct: np.ndarray,
                     v_min: float = V_MIN_PU, v_max: float = V_MAX_PU) -> int:
    v = np.asarray(vm_pu)
    load = np.asarray(loading_pct)
    return int(np.sum((v < v_min) | (v > v_max)) + np.sum(load > 100.0))

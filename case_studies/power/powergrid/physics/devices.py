"""Device maths as broadcasting functions (see the package docstring for why).

Conventions: powers in MW / MVAr, generator convention (positive = into the grid),
energies in MWh, ``dt`` in hours, normalised actions in [-1, 1]. Each function does
exactly the floating-point operations the scalar device code does, in the same
order, so a vectorized copy reproduces a single env to the last bit where the
libraries allow.

Elementwise max/min/where/abs go through the small helpers below: on Python numbers
(the single env) they are plain comparisons, on arrays (the vectorized env) numpy's
ufuncs, with numpy's rules in both cases (a NaN operand wins a max/min). A numpy
ufunc on two floats costs about a microsecond, more than the maths it does, and a
single env step calls these functions dozens of times.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: SOC overshoot below this counts as floating-point dust, not a violation.
SOC_TOL = 1e-9

ArrayLike = Any

_PY_NUMBERS = (float, int, np.float64)  # numbers a plain comparison handles as numpy does


def _maximum(a: ArrayLike, b: ArrayLike) -> ArrayLike:
    if type(a) in _PY_NUMBERS and type(b) in _PY_NUMBERS:
        return a if (a > b or a != a) else b  # numpy's rule (NaN in ``a`` wins; ties: ``b``)
    return np.maximum(a, b)


def _minimum(a: ArrayLike, b: ArrayLike) -> ArrayLike:
    if type(a) in _PY_NUMBERS and type(b) in _PY_NUMBERS:
        return a if (a < b or a != a) else b
    return np.minimum(a, b)


def _where(cond: ArrayLike, a: ArrayLike, b: ArrayLike) -> ArrayLike:
    if type(cond) in (bool, np.bool_):
        return a if cond else b
    return np.where(cond, a, b)


def _abs(a: ArrayLike) -> ArrayLike:
    return abs(a) if type(a) in _PY_NUMBERS else np.abs(a)


def denormalize(a: ArrayLike, low: ArrayLike, high: ArrayLike) -> ArrayLike:
    """[-1, 1] -> [low, high], linearly (the action convention of every device)."""
    return low + (a + 1.0) / 2.0 * (high - low)


def generator_setpoint(a_p: ArrayLike, a_q: ArrayLike, p_min: ArrayLike, p_max: ArrayLike,
                       q_min: ArrayLike, q_max: ArrayLike,
                       s_rated: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """(P, Q) for a normalised (p, q) action within limits and the capability circle.

    Reactive power gives way first when ``P^2 + Q^2`` exceeds ``s_rated^2``, as
    generator controllers do (active power earns money).
    """
    p = _minimum(_maximum(denormalize(a_p, p_min, p_max), p_min), p_max)
    q = _minimum(_maximum(denormalize(a_q, q_min, q_max), q_min), q_max)
    q_cap = _maximum(s_rated ** 2 - p * p, 0.0) ** 0.5
    q = _minimum(_maximum(q, -q_cap), q_cap)
    return p, q


def generator_safety(p: ArrayLike, q: ArrayLike, p_min: ArrayLike, p_max: ArrayLike,
                     s_rated: ArrayLike) -> ArrayLike:
    """P outside its limits plus apparent power above the rating (MW / MVA)."""
    return limit_violation(p, p_min, p_max) + _maximum(0.0, np.hypot(p, q) - s_rated)


def storage_feasible_range(soc: ArrayLike, soc_min: ArrayLike, soc_max: ArrayLike,
                           e_capacity: ArrayLike, ch_eff: ArrayLike, dsc_eff: ArrayLike,
                           p_min: ArrayLike, p_max: ArrayLike,
                           dt: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Grid-side (min, max) power this step, so the SOC cannot leave its band."""
    max_dis = _maximum(0.0, (soc - soc_min) * e_capacity * dsc_eff / dt)
    max_ch = _maximum(0.0, (soc_max - soc) * e_capacity / (ch_eff * dt))
    return _maximum(p_min, -max_ch), _minimum(p_max, max_dis)


def storage_setpoint(a_p: ArrayLike, p_min: ArrayLike, p_max: ArrayLike, lo: ArrayLike,
                     hi: ArrayLike) -> ArrayLike:
    """Battery P for a normalised action, limited to the feasible range [lo, hi]."""
    return _minimum(_maximum(denormalize(a_p, p_min, p_max), lo), hi)


def soc_after(soc: ArrayLike, p: ArrayLike, e_capacity: ArrayLike, ch_eff: ArrayLike,
              dsc_eff: ArrayLike, soc_min: ArrayLike, soc_max: ArrayLike,
              dt: ArrayLike) -> ArrayLike:
    """State of charge after a step at grid-side power ``p`` (positive = discharge).

    Discharging takes ``p dt / dsc_eff`` from the cells, charging adds
    ``|p| dt ch_eff``. The clip only removes floating-point dust: the setpoint was
    limited beforehand (:func:`storage_feasible_range`).
    """
    delta = _where(p >= 0, -p * dt / dsc_eff, -p * dt * ch_eff)
    soc_new = (soc * e_capacity + delta) / e_capacity
    return _minimum(_maximum(soc_new, soc_min), soc_max)


def soc_safety(soc: ArrayLike, soc_min: ArrayLike, soc_max: ArrayLike) -> ArrayLike:
    return (_maximum(0.0, soc_min - soc - SOC_TOL)
            + _maximum(0.0, soc - soc_max - SOC_TOL))


def renewable_setpoint(a_p: ArrayLike, a_q: ArrayLike | None, available: ArrayLike,
                       tan_phi: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Delivered (P, Q): a share of what is available (curtailment), Q within a power factor."""
    p = available * ((a_p + 1.0) / 2.0)
    q = a_q * p * tan_phi if a_q is not None else p * 0.0
    return p, q


def renewable_safety(p: ArrayLike, available: ArrayLike) -> ArrayLike:
    return _maximum(0.0, p - available - 1e-9)


# -- costs ($ per step of dt hours) --------------------------------------------------------
def tap_position(a: ArrayLike, tap_min: ArrayLike, tap_max: ArrayLike) -> ArrayLike:
    """Discrete tap for a normalised action: ``rint`` of the linear map, within limits
    (floats for arrays; the single env takes ``int`` of a scalar)."""
    pos = np.rint(tap_min + (a + 1.0) / 2.0 * (tap_max - tap_min))
    return np.clip(pos, tap_min, tap_max)


def tap_change_cost(old_tap: ArrayLike, new_tap: ArrayLike, cost_per_step: ArrayLike) -> ArrayLike:
    """$ for moving the tap from ``old_tap`` to ``new_tap`` (wear per operation)."""
    return _abs(new_tap - old_tap) * cost_per_step


def quadratic_cost(p: ArrayLike, a: ArrayLike, b: ArrayLike, c: ArrayLike,
                   dt: ArrayLike = 1.0) -> ArrayLike:
    """Fuel cost ``(a P^2 + b P + c) dt``; callers pass ``c = 0`` for an offline unit."""
    return (a * p * p + b * p + c) * dt


def storage_degradation_cost(p: ArrayLike, dt: ArrayLike, cost_per_MWh: ArrayLike) -> ArrayLike:
    """Throughput-based wear: every MWh through the battery wears it equally."""
    return _abs(p) * dt * cost_per_MWh


def curtailment_cost(p_available: ArrayLike, p: ArrayLike, cost_per_MWh: ArrayLike,
                     dt: ArrayLike = 1.0) -> ArrayLike:
    return _maximum(0.0, p_available - p) * cost_per_MWh * dt


def energy_cost(p_import: ArrayLike, price: ArrayLike, dt: ArrayLike = 1.0,
                sell_price_ratio: ArrayLike = 1.0) -> ArrayLike:
    """Settlement with the DSO: import costs ``price``; export earns ``ratio * price``."""
    return _where(p_import >= 0, p_import * price * dt,
                    p_import * price * sell_price_ratio * dt)


def limit_violation(value: ArrayLike, low: ArrayLike, high: ArrayLike) -> ArrayLike:
    return _maximum(0.0, low - value) + _maximum(0.0, value - high)


# -- grid-level safety -------------------------------------------------------------------
def voltage_violation(vm_pu: ArrayLike, v_min: ArrayLike, v_max: ArrayLike) -> ArrayLike:
    """Sum over buses (last axis) of the distance outside [v_min, v_max] in pu; NaN ignored."""
    v = np.asarray(vm_pu, dtype=np.float64)
    if v.ndim == 1 and type(v_min) in _PY_NUMBERS and type(v_max) in _PY_NUMBERS and (
            not v.size or (v.min() >= v_min and v.max() <= v_max)):
        return 0.0  # one grid, every bus inside the band (a NaN fails the test above)
    # fmax drops NaN (isolated buses) in one call; an infinite voltage would count as an
    # infinite violation there, so such input takes the masked form, which ignores it
    total = np.fmax(0.0, v_min - v).sum(axis=-1) + np.fmax(0.0, v - v_max).sum(axis=-1)
    if np.isfinite(total).all():
        return total
    below = np.where(np.isfinite(v), np.maximum(0.0, v_min - v), 0.0)
    above = np.where(np.isfinite(v), np.maximum(0.0, v - v_max), 0.0)
    return below.sum(axis=-1) + above.sum(axis=-1)


def line_overload(loading_pct: ArrayLike, limit_pct: float = 100.0) -> ArrayLike:
    """Sum over lines (last axis) of overloads above ``limit_pct``, in units of the rating."""
    x = np.asarray(loading_pct, dtype=np.float64)
    if x.ndim == 1 and (not x.size or x.max() <= limit_pct):
        return 0.0  # one grid, no line above the limit (NaN and inf fail the test above)
    total = np.fmax(0.0, x - limit_pct).sum(axis=-1)  # as in voltage_violation
    if not np.isfinite(total).all():  # unrated lines (infinite loading) are ignored
        total = np.where(np.isfinite(x), np.maximum(0.0, x - limit_pct), 0.0).sum(axis=-1)
    return total / 100.0

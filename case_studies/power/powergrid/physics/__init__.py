"""The device maths, once: pure functions on scalars and arrays alike.

The single env (one device object per device) and the vectorized env (one array
per device type, a copy axis first) call these same functions, so there is one
definition of how an action becomes a setpoint, how a battery's state of charge
moves and what a step costs. Each function takes numpy arrays or Python floats
and broadcasts; none of them keeps state.
"""

from powergrid.physics.devices import (
    SOC_TOL,
    curtailment_cost,
    denormalize,
    energy_cost,
    generator_safety,
    generator_setpoint,
    limit_violation,
    line_overload,
    quadratic_cost,
    renewable_safety,
    renewable_setpoint,
    soc_after,
    soc_safety,
    storage_degradation_cost,
    storage_feasible_range,
    storage_setpoint,
    tap_change_cost,
    tap_position,
    voltage_violation,
)

__all__ = [
    "SOC_TOL",
    "curtailment_cost",
    "denormalize",
    "energy_cost",
    "generator_safety",
    "generator_setpoint",
    "limit_violation",
    "line_overload",
    "quadratic_cost",
    "renewable_safety",
    "renewable_setpoint",
    "soc_after",
    "soc_safety",
    "storage_degradation_cost",
    "storage_feasible_range",
    "storage_setpoint",
    "tap_change_cost",
    "tap_position",
    "voltage_violation",
]

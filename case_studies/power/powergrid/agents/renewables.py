"""Curtailable renewables. Availability comes from the dataset each hour.

The action chooses how much of the available power to deliver (curtailment is
the only control a grid operator has over a wind farm or PV plant). Curtailed
energy is charged at ``curtailment_cost_per_MWh``, its opportunity cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Box

from powergrid import physics
from powergrid.agents.config_schema import (
    NonNegativeReal,
    PositiveFraction,
    PositiveReal,
    Text,
    device_config,
)
from powergrid.agents.device_agent import (
    Capabilities,
    DeviceAgent,
    DeviceLimits,
    Setpoint,
    build_config,
)
from powergrid.core.features.electrical import ElectricalBasePh
from powergrid.core.features.renewable import RenewableAvailability
from powergrid.utils.cost import curtailment_cost


@device_config
class RenewableConfig:
    """A PV plant's or wind turbine's ``device_state_config`` (also the setup schema)."""

    bus: Text
    p_rated_MW: PositiveReal = 1.0
    curtailment_cost_per_MWh: NonNegativeReal = 5.0
    pf_min: PositiveFraction = 1.0  # < 1 enables a reactive action within this power factor


class RenewableGenerator(DeviceAgent):
    """Curtailable PV plant or wind turbine; ``capabilities.source`` says which series."""

    pp_element = "sgen"
    config_class = RenewableConfig
    capabilities = Capabilities(curtailable=True, source="solar")

    def __init__(self, agent_id: str, device_state_config: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(agent_id=agent_id, device_state_config=device_state_config, **kwargs)
        self.config = build_config(RenewableConfig, self._config, f"{type(self).__name__} {agent_id!r}")
        self.state.add_feature("electrical", ElectricalBasePh())
        self.state.add_feature("availability",
                               RenewableAvailability(p_rated_MW=self.config.p_rated_MW))
        self._space = Box(-1.0, 1.0, shape=(2 if self.config.pf_min < 1 else 1,), dtype=np.float32)

    @property
    def available_power(self) -> float:
        return self.state.availability.p_available_MW

    @available_power.setter
    def available_power(self, value: float) -> None:
        self.state.availability.p_available_MW = float(max(0.0, value))

    def set_availability(self, per_unit: float) -> None:
        self.available_power = per_unit * self.config.p_rated_MW

    def get_action_space(self) -> Box:
        return self._space

    def apply_action(self, a: np.ndarray) -> None:
        """Apply an already validated (finite, clipped) action."""
        tan_phi = self._tan_phi if a.size > 1 else 0.0
        p, q = physics.renewable_setpoint(float(a[0]), float(a[1]) if a.size > 1 else None,
                                          self.available_power, tan_phi)
        self.state.electrical.p_MW, self.state.electrical.q_MVAr = float(p), float(q)

    @property
    def _tan_phi(self) -> float:
        return float(np.tan(np.arccos(self.config.pf_min)))

    def limits(self) -> DeviceLimits:
        """Rated limits: 0..p_rated, and the reactive power the power factor allows there."""
        q = self.config.p_rated_MW * self._tan_phi
        return DeviceLimits(p_min_MW=0.0, p_max_MW=self.config.p_rated_MW,
                            q_min_MVAr=-q, q_max_MVAr=q)

    def reactive_range(self, p_MW: Any) -> tuple[Any, Any]:
        """``|Q| <= P tan(phi)``: the power-factor limit at this active power."""
        q = np.asarray(p_MW, dtype=float) * self._tan_phi
        return -q, q

    def action_for(self, setpoint: Setpoint) -> np.ndarray:
        """Normalised action(s) that ``apply_action`` maps to ``(p_MW, q_MVAr)``.

        The one inverse of :meth:`apply_action`: ``frac = p / p_available`` (all of it
        when nothing is available) and ``q / (p tan(phi))``. ``p_available_MW``
        defaults to the current availability. Scalars or arrays; clipped to [-1, 1].
        """
        p = np.atleast_1d(np.asarray(setpoint.p_MW, dtype=float))
        avail = np.broadcast_to(np.asarray(
            self.available_power if setpoint.p_available_MW is None
            else setpoint.p_available_MW, dtype=float), p.shape)
        frac = np.divide(p, avail, out=np.ones_like(p), where=avail > 1e-12)
        a = np.zeros((p.size, self._space.shape[0]))
        a[:, 0] = np.clip(2.0 * frac - 1.0, -1.0, 1.0)
        if a.shape[1] > 1:
            q = np.broadcast_to(np.asarray(setpoint.q_MVAr, dtype=float), p.shape)
            den = p * self._tan_phi
            a[:, 1] = np.clip(np.divide(q, den, out=np.zeros_like(q), where=den > 1e-12),
                              -1.0, 1.0)
        out = a.astype(np.float32)
        return out[0] if np.ndim(setpoint.p_MW) == 0 else out

    def update_cost_safety(self) -> None:
        self.cost = curtailment_cost(self.available_power, self.state.electrical.p_MW,
                                     self.config.curtailment_cost_per_MWh, self.dt)
        self.safety = float(physics.renewable_safety(self.state.electrical.p_MW,
                                                     self.available_power))

    def respond_to_price(self, price: float) -> np.ndarray:
        """Deliver everything unless the price is negative."""
        return np.asarray([1.0 if price >= 0 else -1.0] + [0.0] * (self._space.shape[0] - 1),
                          dtype=np.float32)


class PV(RenewableGenerator):
    capabilities = Capabilities(curtailable=True, source="solar")


class WindTurbine(RenewableGenerator):
    capabilities = Capabilities(curtailable=True, source="wind")

"""GridAgent: what every grid coordinator does, whatever simulates the network.

A grid coordinator owns devices, prices what they did and exposes them to RL as
one flat action and one labelled observation. None of that needs a power-flow
engine, so it lives here, under :class:`~powergrid.agents.power_grid_agent.PowerGridAgent`
(which adds pandapower: building the devices into a net, writing setpoints,
reading voltages and flows). A coordinator on another simulator subclasses
``GridAgent`` and fills in :meth:`_grid_cost_safety` with its network's terms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Box
from gymnasium.spaces import Dict as SpaceDict

from heron.agents.coordinator_agent import CoordinatorAgent, flatten_box_spaces
from powergrid.agents.device_agent import DeviceAgent, capabilities_of

__all__ = ["GridAgent"]



def rated_power(dev: Any) -> float:
    """Nameplate of a renewable device (``config.p_rated_MW``; 1 MW if it has none)."""
    return float(getattr(getattr(dev, "config", None), "p_rated_MW", 1.0))

class GridAgent(CoordinatorAgent):
    """Grid-level coordinator: a named set of devices with aggregated cost and safety.

    ``cost`` and ``safety`` are this step's totals; they start at 0 so that a grid
    can be observed or rewarded before its first step.
    """

    cost: float = 0.0
    safety: float = 0.0

    @property
    def devices(self) -> dict[str, DeviceAgent]:
        """The grid's devices by name (the coordinator's subordinates, in config order)."""
        return self.subordinate_agents

    # -- cost and safety -------------------------------------------------------------
    def update_cost_safety(self) -> None:
        """Device costs and violations, plus the network's own terms.

        Devices price themselves (fuel, wear, curtailment); the grid only adds them
        up, then :meth:`_grid_cost_safety` adds what only the network knows (energy
        bought, voltage and line limits).
        """
        self.cost = 0.0
        self.safety = 0.0
        for dev in self.devices.values():
            dev.update_cost_safety()
            self.cost += float(dev.cost)
            self.safety += float(dev.safety)
        self._grid_cost_safety()
        self._update_cost_safety_hook()

    def _grid_cost_safety(self) -> None:
        """Add network-level cost and safety to ``self.cost``/``self.safety``.

        Nothing without a network model; simulator-backed subclasses override it.
        """

    def _update_cost_safety_hook(self) -> None:
        """Extension point for subclasses (extra cost terms)."""

    # -- exogenous inputs --------------------------------------------------------------
    def set_availability(self, solar_pu: float = 0.0, wind_pu: float = 0.0) -> None:
        """This hour's renewable availability (``available_power``) on every curtailable
        device, from the series its ``capabilities.source`` names."""
        for dev in self.devices.values():
            caps = capabilities_of(dev)
            if caps.curtailable:
                pu = wind_pu if caps.source == "wind" else solar_pu
                dev.available_power = float(pu) * rated_power(dev)

    # -- RL interface ----------------------------------------------------------------------
    def get_observation(self) -> np.ndarray:
        return self.observe()

    def get_action_space(self) -> SpaceDict:
        return SpaceDict({d: dev.get_action_space() for d, dev in self.devices.items()})

    def get_flat_action_space(self) -> Box:
        """The RL action space: the protocol's own (e.g. one price) or all device setpoints."""
        protocol_space = getattr(self.protocol, "get_action_space", None)
        if protocol_space is not None:
            return protocol_space()
        return flatten_box_spaces({d: dev.get_action_space() for d, dev in self.devices.items()})

    def observation_names(self) -> list[str]:
        """One label per entry of :meth:`observe` (``'ess1.storage.soc'``, ``'exchange.price'`` ...).

        Devices contribute what they let their superior see (``upper_level``
        visibility and wider), the grid all of its own state.
        """
        names = [f"{d}.{n}" for d, dev in self.devices.items()
                 for n in dev.state.names("upper_level")]
        return names + self.state.names("owner")

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.cost = self.safety = 0.0

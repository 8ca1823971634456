"""Radiators, houses and the features they own.

Visibility is the point of this file: a room's temperature is visible to its
house (``upper_level``), the occupant's preference only to the radiator itself
(``owner``), and weather and tariff are ``public``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.spaces import Box

from heron.agents import CoordinatorAgent, FieldAgent
from heron.core.feature import FeatureBlock
from heron.core.policies import Policy
from heron.protocols import SetpointProtocol


@dataclass
class RoomTemp(FeatureBlock):
    """Measured room temperature and current heater power."""

    visibility = "upper_level"
    temp_c: float = 18.0
    power_kw: float = 0.0


@dataclass
class ComfortPreference(FeatureBlock):
    """What the occupant wants. Private: the house controller must infer it from rewards."""

    visibility = "owner"
    preferred_c: float = 21.0
    tolerance_c: float = 1.0


@dataclass
class HouseSignals(FeatureBlock):
    """Exogenous signals every controller may read."""

    t_out_c: float = 5.0
    price: float = 0.1
    hour_sin: float = 0.0
    hour_cos: float = 1.0


class Radiator(FieldAgent):
    """An electric radiator in a room with resistance ``r`` (°C/kW), capacity ``c`` (kWh/°C).

    Room model: ``C dT/dt = (T_out - T) / R + P``, i.e. T' = (T_out - T)/RC + P/C.
    """

    def __init__(self, agent_id: str, r: float = 10.0, c: float = 0.8, max_kw: float = 2.0,
                 preferred_c: float = 21.0, **kwargs: Any) -> None:
        super().__init__(agent_id, **kwargs)
        self.r, self.c, self.max_kw = r, c, max_kw
        self.state.add_feature("room", RoomTemp())
        self.state.add_feature("comfort", ComfortPreference(preferred_c=preferred_c))

    def get_action_space(self) -> Box:
        return Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def apply_action(self, action: np.ndarray) -> None:
        """[-1, 1] -> [0, max_kw]: a normalised action fits any radiator size."""
        self.state.room.power_kw = float((action[0] + 1.0) / 2.0 * self.max_kw)

    def advance(self, t_out_c: float, dt_h: float) -> None:
        """Exact solution of the RC model for ``dt_h`` hours at constant inputs.

        Forward Euler would go unstable once ``dt_h`` exceeds ``R*C``; the exponential
        form is exact for piecewise-constant power and weather, at any step size.
        """
        room = self.state.room
        steady = t_out_c + room.power_kw * self.r
        room.temp_c = steady + (room.temp_c - steady) * math.exp(-dt_h / (self.r * self.c))

    def discomfort(self) -> float:
        """Degrees outside the occupant's own tolerance (0 when they are happy)."""
        pref = self.state.comfort
        return max(0.0, abs(self.state.room.temp_c - pref.preferred_c) - pref.tolerance_c)


class House(CoordinatorAgent):
    """One RL agent per house; its flat action holds one power command per radiator."""

    def __init__(self, agent_id: str, radiators: list[Radiator], **kwargs: Any) -> None:
        super().__init__(agent_id, protocol=SetpointProtocol(),
                         subordinate_agents={r.agent_id: r for r in radiators}, **kwargs)
        self.state.add_feature("signals", HouseSignals())

    @property
    def radiators(self) -> list[Radiator]:
        return list(self.subordinate_agents.values())


class ThermostatPolicy(Policy):
    """Rule-based baseline: full power below ``setpoint_c``, off above.

    It reads temperatures from the house observation (per room: temp, power; then
    the house signals), so it sees exactly what an RL policy sees.
    """

    def __init__(self, n_rooms: int, setpoint_c: float = 21.0) -> None:
        self.n_rooms, self.setpoint_c = n_rooms, setpoint_c

    def forward(self, observation: Any) -> np.ndarray:
        temps = np.asarray(observation)[0:2 * self.n_rooms:2]
        return np.where(temps < self.setpoint_c, 1.0, -1.0).astype(np.float32)

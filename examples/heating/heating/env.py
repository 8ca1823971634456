"""Two houses, time-of-use electricity, a comfort band: a HeronParallelEnv.

Per step (``dt_h`` hours): each house splits its action over its radiators, rooms
evolve by the RC model under the current outdoor temperature, then

* reward = -(energy cost at the hour's price + ``comfort_weight`` x occupant
  discomfort, which depends on private preferences),
* safety = degrees outside the comfort band (scaled by HERON's ``penalty``).
"""

from __future__ import annotations

import math
from typing import Any

from heating.agents import House, Radiator
from heron.envs import HeronParallelEnv
from heron.envs.execution import ExecutionMode

# {house: [(R °C/kW, C kWh/°C, max kW, occupant's preferred °C), ...]}
DEFAULT_HOUSES: dict[str, list[tuple[float, float, float, float]]] = {
    "house_a": [(10.0, 0.8, 2.0, 21.0), (8.0, 0.6, 2.5, 20.0)],  # insulated, mild occupants
    "house_b": [(5.0, 1.0, 4.0, 22.5), (6.0, 0.5, 3.5, 21.5)],  # leaky, warm-loving
}


def tou_price(hour: float) -> float:
    """€/kWh: night 0.10, day 0.25, evening peak (17-21 h) 0.40."""
    h = hour % 24
    if 17 <= h < 21:
        return 0.40
    return 0.25 if 7 <= h < 17 else 0.10


def outdoor_temp_c(hour: float, mean_c: float = 5.0, amplitude_c: float = 4.0) -> float:
    """Daily sinusoid: coldest around 03:00, warmest around 15:00."""
    return mean_c + amplitude_c * math.sin(2 * math.pi * (hour % 24 - 9) / 24)


class HeatingEnv(HeronParallelEnv):
    """``env_config``: ``houses`` (see ``DEFAULT_HOUSES``), ``dt_h`` (1.0), ``band``
    ((19, 24) °C), ``comfort_weight`` (0.5), ``t_out_mean`` (5), ``t_out_amplitude``
    (4), ``noise`` (0.2 °C outdoor noise), plus HERON's ``max_episode_steps`` (24),
    ``penalty`` (1.0 here), ``share_reward`` and ``centralized`` (``false``: every action
    and observation travels as a message through a proxy).

    ``execution`` is heron's execution mode; :class:`heron.distributed.DistributedHost`
    passes its own to run each house controller in another process or thread. Nothing
    in this domain knows which mode it runs in."""

    metadata = {"render_modes": [], "name": "heron_heating_v0"}

    def __init__(self, env_config: dict[str, Any] | None = None,
                 execution: ExecutionMode | None = None) -> None:
        super().__init__({"penalty": 1.0, **dict(env_config or {})}, execution)
        cfg = self.env_config
        self.houses = dict(cfg.get("houses", DEFAULT_HOUSES))
        self.dt_h = float(cfg.get("dt_h", 1.0))
        self.band = tuple(cfg.get("band", (19.0, 24.0)))
        self.comfort_weight = float(cfg.get("comfort_weight", 0.5))
        self.t_out_mean = float(cfg.get("t_out_mean", 5.0))
        self.t_out_amplitude = float(cfg.get("t_out_amplitude", 4.0))
        self.noise = float(cfg.get("noise", 0.2))
        self.hour = 0.0
        self._last_costs: dict[str, float] = {}
        self._build_agents()
        self._init_spaces()

    def _build_agents(self) -> None:
        for house, rooms in self.houses.items():
            radiators = [Radiator(f"{house}_room{i}", r=r, c=c, max_kw=kw, preferred_c=pref)
                         for i, (r, c, kw, pref) in enumerate(rooms)]
            self.agent_dict[house] = House(house, radiators)
        self.possible_agents = list(self.agent_dict)

    def _update_signals(self, t_out: float) -> None:
        angle = 2 * math.pi * (self.hour % 24) / 24
        for house in self.agent_dict.values():
            sig = house.state.signals
            sig.t_out_c, sig.price = t_out, tou_price(self.hour)
            sig.hour_sin, sig.hour_cos = math.sin(angle), math.cos(angle)

    def _reset_domain(self, seed: int | None, options: dict | None) -> None:
        self.hour = float((options or {}).get("start_hour", 0.0))
        for house in self.agent_dict.values():
            for rad in house.radiators:
                rad.state.room.temp_c = float(self.np_random.uniform(17.0, 20.0))
        self._update_signals(outdoor_temp_c(self.hour, self.t_out_mean, self.t_out_amplitude))

    def _simulate(self) -> dict[str, dict[str, Any]]:
        price = tou_price(self.hour)  # the tariff in force while the energy is used
        t_out = outdoor_temp_c(self.hour, self.t_out_mean, self.t_out_amplitude)
        t_out += float(self.np_random.normal(0.0, self.noise)) if self.noise else 0.0
        infos = {}
        for house in self.agents:
            energy = 0.0
            for rad in self.agent_dict[house].radiators:
                rad.advance(t_out, self.dt_h)
                energy += rad.state.room.power_kw * self.dt_h
            infos[house] = {"energy_kwh": energy, "cost": energy * price}
        self._last_costs = {h: i["cost"] for h, i in infos.items()}
        self.hour += self.dt_h
        self._update_signals(t_out)
        return infos

    def _reward_and_safety(self) -> tuple[dict[str, float], dict[str, float]]:
        low, high = self.band
        rewards, safety = {}, {}
        for house in self.agents:
            rads = self.agent_dict[house].radiators
            discomfort = sum(r.discomfort() for r in rads)
            rewards[house] = -(self._last_costs[house] + self.comfort_weight * discomfort)
            safety[house] = sum(max(0.0, low - r.state.room.temp_c, r.state.room.temp_c - high)
                                for r in rads)
        return rewards, safety

"""Example 04: add a custom device type, exactly as the user guide's recipe does.

1. subclass DeviceAgent, 2. register it in DEVICE_REGISTRY, 3. use it from a config.
The environment sets ``available_power`` every hour from the dataset's wind profile:
the recipe declares no ``capabilities``, so they are inferred (an ``available_power``
attribute: curtailable; "Wind" in the class name: the wind series). Declare
``capabilities = Capabilities(curtailable=True, source="wind")`` to be explicit.

Run from case_studies/power:  python examples/04_custom_device.py
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.spaces import Box

from heron.envs import ALL_AGENTS_KEY
from powergrid.agents.device_agent import DeviceAgent
from powergrid.agents.power_grid_agent import DEVICE_REGISTRY
from powergrid.core.features.electrical import ElectricalBasePh
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids


@dataclass
class MyWindTurbineConfig:
    """Configuration for wind turbine."""
    bus: str
    p_rated_MW: float = 2.0  # Rated power capacity


class MyWindTurbine(DeviceAgent):
    """Wind turbine with curtailment control (the guide's recipe, unchanged)."""

    def __init__(self, agent_id: str, device_state_config: dict[str, Any], **kwargs):
        super().__init__(agent_id=agent_id, device_state_config=device_state_config, **kwargs)
        self.config = MyWindTurbineConfig(**device_state_config)
        self.state.add_feature('electrical', ElectricalBasePh())
        self.available_power = 0.0  # Set by environment based on wind forecast

    def get_action_space(self):
        # Curtailment factor [0, 1]: 0 = full curtailment, 1 = no curtailment
        return Box(low=0.0, high=1.0, shape=(1,), dtype=np.float32)

    def set_device_action(self, action):
        curtailment_factor = action[0]
        self.state.electrical.p_MW = self.available_power * curtailment_factor

    def update_cost_safety(self):
        curtailed = self.available_power - self.state.electrical.p_MW
        self.cost = curtailed * 5.0  # $5/MWh opportunity cost for curtailment
        self.safety = 0.0


DEVICE_REGISTRY['MyWindTurbine'] = MyWindTurbine

CONFIG = {
    "train": False,
    "max_episode_steps": 24,
    "microgrid_configs": [{
        "name": "MG1",
        "load_scale": 0.3,
        "wind_profile": "WP4",
        "devices": [
            {"type": "MyWindTurbine", "name": "wt1",
             "device_state_config": {"bus": "Bus 680", "p_rated_MW": 0.8}},
            {"type": "ESS", "name": "ess1",
             "device_state_config": {"bus": "Bus 634", "e_capacity_MWh": 2.0,
                                     "p_max_MW": 0.5, "p_min_MW": -0.5}},
        ],
    }],
}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    args = parser.parse_args(argv)
    env = MultiAgentMicrogrids({**CONFIG, "max_episode_steps": args.steps})
    env.reset(seed=0)
    wt = env.agent_dict["MG1"].devices["wt1"]
    total_wind, total_cost = 0.0, 0.0
    print(f"{'hour':>4} {'avail MW':>9} {'wind MW':>8} {'import MW':>10} {'cost $':>8}")
    for t in range(args.steps):
        # deliver all wind (1.0), battery idle (0.0)
        _, _, _, trunc, infos = env.step({"MG1": np.array([1.0, 0.0], dtype=np.float32)})
        total_wind += wt.state.electrical.p_MW
        total_cost += infos["MG1"]["cost"]
        print(f"{t:>4} {wt.available_power:>9.3f} {wt.state.electrical.p_MW:>8.3f} "
              f"{infos['MG1']['grid_import_MW']:>10.3f} {infos['MG1']['cost']:>8.2f}")
        if trunc[ALL_AGENTS_KEY]:
            break
    print(f"wind energy delivered: {total_wind:.2f} MWh, total cost: {total_cost:.2f} $")
    return {"wind_MWh": total_wind, "cost": total_cost}


if __name__ == "__main__":
    main()

"""Example 07: write your own coordination protocol and use it from a config.

``CapacityShareProtocol`` gives each microgrid a single action, its net power target
in [-1, 1] of its total device capacity, and shares it among devices in proportion
to their capacity. Register it under a name, then select it with ``protocol:``.

Run from case_studies/power:  python examples/07_custom_protocol.py
"""

from __future__ import annotations

import numpy as np
from gymnasium.spaces import Box

from heron.protocols.base import Protocol
from heron.protocols.registry import register_protocol
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup


class CapacityShareProtocol(Protocol):
    """One scalar per coordinator -> the same normalised setpoint for every device."""

    name = "capacity_share"

    def get_action_space(self) -> Box:
        # the coordinator's RL action space (instead of one entry per device setpoint)
        return Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def coordinate(self, coordinator_action, subordinates):
        level = float(np.clip(np.asarray(coordinator_action).ravel()[0], -1, 1))
        out = {}
        for dev_id, dev in subordinates.items():
            a = np.zeros(dev.get_action_space().shape, dtype=np.float32)
            a[0] = level  # every device at the same fraction of its range; Q at mid-range
            out[dev_id] = a
        return out


register_protocol("capacity_share", CapacityShareProtocol, overwrite=True)


def main(argv: list[str] | None = None) -> float:
    cfg = load_setup("ieee34_ieee13")
    cfg.update({"train": False, "max_episode_steps": 6, "protocol": "capacity_share"})
    env = MultiAgentMicrogrids(cfg)
    print({a: env.action_space(a).shape for a in env.possible_agents})
    env.reset(seed=0)
    total = 0.0
    for level in (-1.0, -0.5, 0.0, 0.5, 1.0, 1.0):
        _, _, _, _, infos = env.step({a: np.array([level], np.float32) for a in env.agents})
        gen1 = env.agent_dict["MG1"].devices["gen1"].state.electrical.p_MW
        total += sum(i["cost"] for i in infos.values())
        print(f"level {level:+.1f}: gen1 {gen1:.2f} MW, MG1 import "
              f"{infos['MG1']['grid_import_MW']:.2f} MW, cost {infos['MG1']['cost']:.2f} $")
    return total


if __name__ == "__main__":
    main()

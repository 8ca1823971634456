"""MultiAgentMicrogrids: microgrids (RL agents) on a distribution feeder (the DSO).

Architecture (default setup ``ieee34_ieee13``)::

    DSO  IEEE 34-bus feeder, 24.9 kV  (GridSystemAgent, scripted loads)
    ├── MG1  IEEE 13-bus, 4.16 kV, via a PCC transformer at "DSO Bus 850"
    ├── MG2  IEEE 13-bus at "DSO Bus 860"
    └── MG3  IEEE 13-bus at "DSO Bus 848" (the guide's 890 sits behind an
             overloaded 500 kVA transformer; see the setup's config.yml)

Microgrids are connected through point-of-common-coupling transformers rather than
fused onto the feeder bus as the guide's sketch did: fusing a 4.16 kV bus into a
24.9 kV bus is physically wrong and makes every voltage meaningless.

With no ``dso_config`` and one microgrid, the microgrid runs stand-alone with its
own slack bus (examples/01).
"""

from __future__ import annotations

from typing import Any

from heron.protocols.vertical import PriceSignalProtocol, SetpointProtocol
from powergrid.agents.device_agent import ConfigError
from powergrid.agents.power_grid_agent import GridSystemAgent, PowerGridAgent
from powergrid.envs.networked_grid_env import NetworkedGridEnv


class MultiAgentMicrogrids(NetworkedGridEnv):
    metadata = {"render_modes": ["human"], "name": "multi_agent_microgrids_v0"}

    def _mg_configs(self) -> list[dict[str, Any]]:
        mgs = self.env_config.get("microgrid_configs")
        if not mgs or not isinstance(mgs, list):
            raise ConfigError("env_config needs a non-empty list 'microgrid_configs' "
                              "(see powergrid/setups/ieee34_ieee13/config.yml).")
        names = [m.get("name") for m in mgs]
        if len(set(names)) != len(names) or None in names:
            raise ConfigError(f"microgrid names must be present and unique, got {names}.")
        return mgs

    def _build_net(self):
        from powergrid.networks import connect_microgrid, get_network

        mgs = self._mg_configs()
        dso_cfg = self.env_config.get("dso_config")
        if not dso_cfg:
            if len(mgs) != 1:
                raise ConfigError("Without dso_config exactly one microgrid can run stand-alone; "
                                  f"got {len(mgs)}. Add a dso_config (e.g. network: ieee34).")
            m = mgs[0]
            return get_network(m.get("network", "ieee13"), name=m["name"])
        net = get_network(dso_cfg.get("network", "ieee34"), name=dso_cfg.get("name", "DSO"))
        for m in mgs:
            if "connection_bus" not in m:
                raise ConfigError(f"microgrid {m['name']!r} needs a connection_bus "
                                  "(e.g. 'DSO Bus 850').")
            mg_net = get_network(m.get("network", "ieee13"), name=m["name"])
            try:
                connect_microgrid(net, mg_net, m["connection_bus"], m["name"],
                                  **({"pcc_sn_mva": m["pcc_sn_mva"]} if "pcc_sn_mva" in m else {}))
            except ValueError as exc:
                raise ConfigError(f"microgrid {m['name']!r}: {exc}") from None
        return net

    def _make_protocol(self):
        """Device-level protocol of each microgrid, by name from heron's protocol registry.

        The names accepted are :func:`powergrid.envs.protocols.accepted_protocols`:
        every vertical protocol (``setpoint``, ``price_signal``, any registered with
        ``heron.protocols.registry.register_protocol``) and ``p2p``, a market
        *between* microgrids, so their devices get setpoints; ``price_signal`` makes
        the agent's action one normalised price.
        """
        from heron.protocols import PROTOCOL_REGISTRY, VERTICAL, make_protocol
        from powergrid.envs.protocols import MARKET_PROTOCOL, accepted_protocols

        name = self.env_config.get("protocol", "setpoint")
        if name == MARKET_PROTOCOL:
            return SetpointProtocol()
        if name == "price_signal":
            # the agent's action is one normalised price signal in [-1, 1] -> [0, 100] $/MWh
            return PriceSignalProtocol(price_min=0.0, price_max=100.0, normalized=True)
        valid = accepted_protocols()
        if name not in valid:
            if isinstance(name, str) and name in PROTOCOL_REGISTRY:
                cls = PROTOCOL_REGISTRY[name]
                raise ConfigError(f"protocol {name!r} ({cls.__name__}) is a {cls.kind} protocol; "
                                  f"it cannot dispatch devices. Choose one of {valid}.")
            raise ConfigError(f"Unknown protocol {name!r}; choose one of {valid} or register "
                              "your own with heron.protocols.registry.register_protocol.")
        return make_protocol(name, kind=VERTICAL)

    def _build_agents(self) -> None:
        self.agent_dict = {}
        for m in self._mg_configs():
            agent = PowerGridAgent(net=self.net, grid_config=m, protocol=self._make_protocol(),
                                   message_broker=self.message_broker, dt=self.dt)
            self.agent_dict[m["name"]] = agent
        dso_cfg = self.env_config.get("dso_config")
        if dso_cfg:
            self.system_agent = GridSystemAgent(
                dso_cfg.get("name", "DSO"), load_scale=float(dso_cfg.get("load_scale", 1.0)))
            self.system_agent.scale_network(self.net)
            for agent in self.agent_dict.values():
                self.system_agent.add_subordinate(agent)
        self.possible_agents = list(self.agent_dict)

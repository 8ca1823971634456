"""Everything the oracle needs to know about one day, read off the environment itself.

Why read it from a live environment instead of re-implementing the data path:
loads, renewable availability and prices must be *exactly* what the environment
will use when the oracle's setpoints are replayed (load scales, profiles per
microgrid, the DSO profile, split and day arithmetic, device ratings). Calling the
environment's own data path (:meth:`NetworkedGridEnv.exogenous_window`) guarantees
that, and keeps the oracle correct when that code changes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from powergrid.agents.device_agent import capabilities_of
from powergrid.agents.generator import GeneratorConfig
from powergrid.agents.renewables import RenewableConfig
from powergrid.agents.storage import StorageConfig
from powergrid.agents.transformer import TransformerConfig


class UnsupportedSetupError(ValueError):
    """The setup uses a feature the oracle cannot model; the message says which."""


@dataclass
class DeviceSpec:
    """One controllable device as the oracle sees it."""

    agent: str
    name: str
    kind: str  # "generator" | "ess" | "renewable" | "transformer"
    config: Any  # the device's config dataclass (limits, costs)
    pp_element: str  # "sgen" | "storage" | "trafo"
    pp_idx: int
    pp_bus: int  # pandapower bus (sgen / storage), -1 for transformers
    scaling: float  # pandapower ``scaling`` x ``in_service`` of the element
    action_dim: int
    #: generators with commitment: hours forced off at the start, start-up cost
    off_hours: int = 0
    startup_cost: float = 0.0


@dataclass
class AgentSpec:
    """A microgrid controller: its devices and how the environment meters its import."""

    name: str
    devices: list[DeviceSpec]
    include_grid_cost: bool
    sell_price_ratio: float
    v_limits: tuple[float, float]
    pp_buses: np.ndarray  # pandapower buses of the agent's zone
    pp_lines: np.ndarray  # pandapower lines whose from_bus is in the zone
    load_rows: np.ndarray  # positions in net.load of the zone's loads
    #: how the environment measures the import: ("pcc_trafo", trafo idx) or
    #: ("ext_grid", -1) or ("balance", -1) (see PowerGridAgent._import_mw)
    import_meter: tuple[str, int]


@dataclass
class DayScenario:
    """Loads, prices, availability and taps of one day, hour by hour."""

    config: dict[str, Any]
    day: int
    split: str
    horizon: int
    dt: float
    start_hour: int
    price: np.ndarray  # (T,) $/MWh
    load_p: np.ndarray  # (T, n_load) MW, net.load order, before ``scaling``
    load_q: np.ndarray  # (T, n_load) MVAr
    available: dict[tuple[str, str], np.ndarray]  # renewable (agent, device) -> (T,) MW
    initial_taps: np.ndarray  # (n_trafo,) after the environment's reset
    agents: list[AgentSpec]
    #: automatic step-voltage regulators of the env (``envs.regulators``): pandapower
    #: trafo indices, and the set point / band they hold their LV bus at
    regulators: list[int] = field(default_factory=list)
    regulator_v_set: float = 1.0
    regulator_bandwidth: float = 0.0
    net: Any = field(repr=False, default=None)

    @property
    def devices(self) -> list[DeviceSpec]:
        return [d for a in self.agents for d in a.devices]


def env_config_for(config: dict[str, Any], split: str, horizon: int) -> dict[str, Any]:
    """The environment config the oracle (and its replay) uses for ``split``/``horizon``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    cfg = copy.deepcopy(dict(config))
    cfg["train"] = split == "train"
    cfg["max_episode_steps"] = int(horizon)
    cfg["centralized"] = True
    return cfg


def make_env(config: dict[str, Any], split: str = "test", horizon: int = 24) -> Any:
    """A ``MultiAgentMicrogrids`` for ``config`` set up for one ``horizon``-hour episode."""
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

    return MultiAgentMicrogrids(env_config_for(config, split, horizon))


#: the oracle's model of each capability, and the config it reads the device's data from
_MODELLED = (
    ("dispatchable", "generator", GeneratorConfig),
    ("storage", "ess", StorageConfig),
    ("curtailable", "renewable", RenewableConfig),
    ("tap", "transformer", TransformerConfig),
)


def _device_kind(dev: Any) -> str:
    """The oracle's model of ``dev``, from its declared capabilities.

    The model reads costs and limits from the device's config, so the config must be
    the one that capability's model is written for.
    """
    caps = capabilities_of(dev)
    for flag, kind, config_class in _MODELLED:
        if getattr(caps, flag):
            if not isinstance(getattr(dev, "config", None), config_class):
                raise UnsupportedSetupError(
                    f"device {dev.agent_id!r} ({type(dev).__name__}) declares {flag} but its "
                    f"config is not a {config_class.__name__}, which the oracle's {kind} "
                    "model reads its costs and limits from.")
            return kind
    raise UnsupportedSetupError(f"device {dev.agent_id!r}: type {type(dev).__name__} is not "
                                "modelled by the oracle (devices that declare dispatchable, "
                                "storage, curtailable or tap capabilities are: Generator, "
                                "ESS, PV/WindTurbine, Transformer).")


def _scaling(net: Any, table: str, idx: int) -> float:
    df = net[table]
    scale = float(df.scaling.at[idx]) if "scaling" in df else 1.0
    return scale * float(bool(df.in_service.at[idx]))


def scenario_from_env(env: Any, day: int, horizon: int | None = None,
                      seed: int | None = 0) -> DayScenario:
    """Reset ``env`` to ``day`` and read that day's data hour by hour.

    The environment is left reset at the start of ``day`` (the hourly data calls do
    not step it; they only write this hour's loads into the shared vectors).
    """
    protocol = env.env_config.get("protocol", "setpoint")
    if protocol != "setpoint":
        raise UnsupportedSetupError(f"protocol {protocol!r}: oracle setpoints can only be replayed "
                                    "through the 'setpoint' protocol.")
    horizon = int(horizon or env.max_episode_steps)
    if horizon > env.max_episode_steps:
        raise ValueError(f"horizon {horizon} exceeds the environment's max_episode_steps "
                         f"{env.max_episode_steps}.")
    env.reset(seed=seed, options={"day": int(day)})
    gm, net = env.grid_model, env.net
    initial_taps = gm.tap_pos.astype(float).copy()
    agents: list[AgentSpec] = []
    renewables: list[tuple[str, str, Any]] = []
    for agent_id in env.possible_agents:
        agent = env.agent_dict[agent_id]
        devs = []
        for name, dev in agent.devices.items():
            kind = _device_kind(dev)
            off_hours, startup = 0, 0.0
            if kind == "generator" and dev.config.allow_commitment and not dev.config.init_on:
                # the env turns a unit on after ceil(startup_time / dt) - 1 further steps
                off_hours = max(0, math.ceil(dev.config.startup_time_hr / env.dt - 1e-9) - 1)
                startup = float(dev.config.startup_cost)
            elem = dev.pp_element
            pp_bus = -1 if elem == "trafo" else int(net[elem].at[dev.pp_idx, "bus"])
            devs.append(DeviceSpec(
                agent=agent_id, name=name, kind=kind, config=dev.config, pp_element=elem,
                pp_idx=int(dev.pp_idx), pp_bus=pp_bus,
                scaling=1.0 if elem == "trafo" else _scaling(net, elem, int(dev.pp_idx)),
                action_dim=int(dev.get_action_space().shape[0]), off_hours=off_hours,
                startup_cost=startup))
            if kind == "renewable":
                renewables.append((agent_id, name, dev))
        agents.append(AgentSpec(
            name=agent_id, devices=devs, include_grid_cost=agent.include_grid_cost,
            sell_price_ratio=agent.sell_price_ratio, v_limits=tuple(agent.v_limits),
            pp_buses=agent.bus_index, pp_lines=agent.line_index, load_rows=agent.load_rows,
            import_meter=agent.import_meter))
    # the env's own data path, hour by hour; it leaves the env as reset() left it
    window = env.exogenous_window(env.start_hour, horizon)
    price, load_p, load_q = window.price, window.load_p, window.load_q
    available = {(a, n): window.available[(a, n)] for a, n, _ in renewables}
    reg = env.regulators
    regulators = ([int(net.trafo.index[row]) for row in reg.rows] if reg.active else [])
    return DayScenario(
        regulators=regulators, regulator_v_set=float(reg.settings.v_set),
        regulator_bandwidth=float(reg.settings.bandwidth),
        config=copy.deepcopy(env.env_config), day=int(day), split=env.split, horizon=horizon,
        dt=float(env.dt), start_hour=env.start_hour, price=price, load_p=load_p,
        load_q=load_q, available=available, initial_taps=initial_taps, agents=agents, net=net)

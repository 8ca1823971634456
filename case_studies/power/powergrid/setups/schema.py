"""The declarative schema of a setup (``config.yml`` / ``env_config``), pydantic v2.

One schema for setup files and device configs (DESIGN.md decision 12): the
models below describe the top level, ``dso_config``, each microgrid and each
device entry; a device's ``device_state_config`` is checked against the config
dataclass its class declares (``Generator.config_class = GeneratorConfig`` ...),
the very class the device builds itself from, so the two cannot drift apart.

Validation never raises and reports every problem at once, each as
``<key path> <problem>; <fix>``:

1. the schema: unknown keys at every level (with "did you mean"), strict types
   (``train: 'false'`` is a string, not a boolean), finite numbers, ranges and
   cross-field rules (``v_min_pu < v_max_pu``, ``p_min_MW <= p_max_MW`` ...);
2. each device against its type: unknown types list the registered ones; a
   custom device registered without a schema'd config is instantiated, as the
   env would;
3. what needs the networks: buses that exist, DSO connection buses, unique names.

The models validate; the env still reads the plain dict (with the same defaults,
which a test compares with the env's).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, TypeAdapter, model_validator

from powergrid.agents.config_schema import (
    FORBID_EXTRA,
    Flag,
    Name,
    NonNegativeInteger,
    NonNegativeReal,
    PositiveInteger,
    PositiveReal,
    Text,
    ValidationError,
    closest,
    describe_errors,
    raise_problems,
)
from powergrid.agents.power_grid_agent import DEFAULT_MICROGRID_LOAD_SCALE
from powergrid.powerflow.base import DEFAULT_BACKEND
from powergrid.utils.safety import V_MAX_PU, V_MIN_PU

__all__ = [
    "DSOConfig", "DeviceEntry", "MicrogridConfig", "PowerFlowConfig", "RegulatorControlConfig",
    "SetupConfig", "device_config_class", "setup_problems",
]


# -- values checked against a registry ---------------------------------------------------
def _one_of(kind: str, value: str, valid: list[str]) -> str:
    if value not in valid:
        guess = closest(value, valid)
        raise ValueError(f"unknown {kind} {value!r}; "
                         + (f"did you mean {guess!r}? " if guess else "") + f"choose one of {valid}")
    return value


def _known_backend(value: str) -> str:
    from powergrid.powerflow.base import ALIASES, BACKENDS

    return _one_of("power-flow backend", value, sorted({*BACKENDS, *ALIASES}))


def _known_protocol(value: str) -> str:
    """What the env accepts (:func:`powergrid.envs.protocols.accepted_protocols`):
    heron's vertical protocols and the env's market ``p2p``."""
    from powergrid.envs.protocols import accepted_protocols

    return _one_of("protocol", value, accepted_protocols())


def _known_broker(value: Any) -> Any:
    from heron.messaging.base import MessageBroker

    if isinstance(value, MessageBroker):  # Python configs may pass a broker object
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be 'in_memory' or 'redis', got {value!r}")
    return _one_of("message_broker", value, ["in_memory", "memory", "redis"])


def _path_like(value: Any) -> Any:
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"must be a file path (a string), got {value!r}")
    return value


def _regulator_flag(value: Any) -> Any:
    """``regulator_control: true/false`` is short for ``{enabled: true/false}``."""
    if isinstance(value, bool):
        return {"enabled": value}
    if value is not None and not isinstance(value, Mapping):
        raise ValueError("must be true, false or a mapping {enabled, v_set, bandwidth, "
                         f"max_iter, max_steps_per_move}}, got {value!r}")
    return value


# -- the models -----------------------------------------------------------------------
class _Schema(BaseModel):
    model_config = FORBID_EXTRA


class PowerFlowConfig(_Schema):
    backend: Annotated[Text, AfterValidator(_known_backend)] = DEFAULT_BACKEND


class RegulatorControlConfig(_Schema):
    """Automatic step-voltage regulators (``powergrid.envs.regulators.RegulatorSettings``)."""

    enabled: Flag = True
    v_set: PositiveReal = 1.03
    bandwidth: PositiveReal = 0.02
    max_iter: NonNegativeInteger = 3
    max_steps_per_move: PositiveInteger = 4


class DSOConfig(_Schema):
    name: Name = "DSO"
    network: Name = "ieee34"
    load_scale: NonNegativeReal = 1.0
    load_profile: Optional[Text] = None
    load_area: Optional[Text] = Field(None, description="the user guide's CAISO load area "
                                      "label; informational, the data comes from the dataset")


class DeviceEntry(_Schema):
    type: Name
    name: Name
    #: checked against the device class's config in a second pass (it depends on ``type``)
    device_state_config: Optional[dict[Text, Any]] = None


class MicrogridConfig(_Schema):
    name: Name
    network: Name = "ieee13"
    connection_bus: Optional[Text] = None
    pcc_sn_mva: PositiveReal = 5.0
    devices: Optional[list[DeviceEntry]] = Field(default_factory=list)
    load_scale: NonNegativeReal = DEFAULT_MICROGRID_LOAD_SCALE
    load_profile: Optional[Text] = None
    solar_profile: Optional[Text] = None
    wind_profile: Optional[Text] = None
    sell_price_ratio: NonNegativeReal = 1.0
    include_grid_cost: Flag = True
    trafo_taps: Optional[dict[Text, Annotated[int, Field(strict=True)]]] = None
    v_min_pu: PositiveReal = V_MIN_PU
    v_max_pu: PositiveReal = V_MAX_PU
    base_power: PositiveReal = Field(1.0, description="the user guide's per-unit base (MW); "
                                     "informational, every quantity here is in MW")

    @model_validator(mode="after")
    def _voltage_band(self) -> MicrogridConfig:
        if self.v_min_pu >= self.v_max_pu:
            raise_problems([f"v_min_pu ({self.v_min_pu}) must be below v_max_pu "
                            f"({self.v_max_pu}); e.g. v_min_pu: 0.95, v_max_pu: 1.05"])
        return self


class SetupConfig(_Schema):
    """The top level of a setup; see docs/power_case_study.md, "Configuration keys"."""

    microgrid_configs: list[MicrogridConfig] = Field(min_length=1)
    dso_config: Optional[DSOConfig] = None
    max_episode_steps: PositiveInteger = 24
    train: Flag = True
    penalty: NonNegativeReal = 10.0
    share_reward: Flag = False
    protocol: Annotated[Text, AfterValidator(_known_protocol)] = "setpoint"
    centralized: Flag = True
    message_broker: Annotated[Any, AfterValidator(_known_broker)] = "in_memory"
    redis_url: Text = "redis://127.0.0.1:6379/0"
    power_flow: Optional[PowerFlowConfig] = Field(default_factory=PowerFlowConfig)
    regulator_control: Annotated[Optional[RegulatorControlConfig],
                                 BeforeValidator(_regulator_flag)] = Field(
        default_factory=RegulatorControlConfig)
    nonconvergence_penalty: NonNegativeReal = 100.0
    truncate_on_divergence: Flag = True
    dt: PositiveReal = 1.0
    seed: Optional[NonNegativeInteger] = None
    pad_spaces: Flag = True
    dataset_path: Annotated[Optional[Any], AfterValidator(_path_like)] = None
    dataset: Optional[dict[Any, Any]] = None


# -- pass 2: each device against its type -------------------------------------------------
def device_config_class(cls: type) -> type | None:
    """The schema'd config ``cls`` builds from, or None (then validation instantiates it).

    ``config_class`` is trusted only from the class that defines the constructor in
    use: a custom subclass of ``Generator`` with its own ``__init__`` may read other
    keys, so it is checked by building it, not against the inherited schema.
    """
    for klass in getattr(cls, "__mro__", ()):
        if "__init__" in vars(klass):
            declared = vars(klass).get("config_class")
            return declared if hasattr(declared, "__pydantic_fields__") else None
    return None


@lru_cache(maxsize=64)
def _adapter(config_cls: type) -> TypeAdapter:
    return TypeAdapter(config_cls)


def _device_problems(dev: Mapping[str, Any], where: str) -> list[str]:
    from powergrid.agents.registry import DEVICE_REGISTRY

    kind = dev.get("type")
    cls = DEVICE_REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        if not isinstance(kind, str):
            return []  # pass 1 reported it
        guess = closest(kind, sorted(DEVICE_REGISTRY))
        return [f"{where}.type: unknown device type {kind!r}; "
                + (f"did you mean {guess!r}? " if guess else "")
                + f"known types: {sorted(DEVICE_REGISTRY)}. Register custom devices with "
                "DEVICE_REGISTRY['MyType'] = MyDevice"]
    sc = dev.get("device_state_config") or {}
    if not isinstance(sc, Mapping) or not all(isinstance(k, str) for k in sc):
        return []  # pass 1 reported it
    config_cls = device_config_class(cls)
    if config_cls is not None:
        try:
            _adapter(config_cls).validate_python(dict(sc))
        except ValidationError as exc:
            return describe_errors(exc, config_cls, f"{where}.device_state_config")
        return []
    try:  # a custom device: build it, as the env will
        cls(agent_id=str(dev.get("name", "device")), device_state_config=dict(sc))
    except Exception as exc:  # noqa: BLE001 - user code: report, never crash validation
        return [f"{where}.device_state_config: {getattr(cls, '__name__', cls)} "
                f"rejects it: {type(exc).__name__}: {exc}"]
    return []


# -- pass 3: what needs the networks ---------------------------------------------------
@lru_cache(maxsize=8)
def _bus_names(network: str, name: str) -> tuple[str, ...]:
    from powergrid.networks import get_network

    return tuple(get_network(network, name=name).bus.name.astype(str))


def _buses(network: Any, name: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not (isinstance(network, str) and isinstance(name, str) and network and name):
        return ()  # pass 1 reported it
    try:
        return _bus_names(network, name)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return ()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _microgrid_problems(mg: Mapping[str, Any], where: str, dso_buses: tuple[str, ...],
                        has_dso: bool) -> list[str]:
    problems: list[str] = []
    name = mg.get("name")
    if has_dso and "connection_bus" not in mg:
        problems.append(f"{where}.connection_bus is required with a dso_config: the DSO bus "
                        "of the PCC, e.g. connection_bus: \"DSO Bus 850\"")
    bus = mg.get("connection_bus")
    if has_dso and dso_buses and isinstance(bus, str) and bus not in dso_buses:
        problems.append(f"{where}.connection_bus {bus!r} is not a bus of the DSO network "
                        f"(e.g. {', '.join(dso_buses[:5])} ...)")
    mg_buses = set(_buses(mg.get("network", "ieee13"), name, f"{where}.network", problems))
    seen: set[str] = set()
    for j, dev in enumerate(_as_list(mg.get("devices"))):
        dwhere = f"{where}.devices[{j}]"
        if not isinstance(dev, Mapping):
            continue
        dname = dev.get("name")
        if isinstance(dname, str):
            if dname in seen:
                problems.append(f"{dwhere}.name: duplicate device name {dname!r} in {name}; "
                                "names must be unique within a microgrid")
            seen.add(dname)
        device_problems = _device_problems(dev, dwhere)
        problems += device_problems
        if device_problems and any(p.startswith(f"{dwhere}.type") for p in device_problems):
            continue
        sc = dev.get("device_state_config") or {}
        dbus = sc.get("bus") if isinstance(sc, Mapping) else None
        if (isinstance(dbus, str) and dbus and mg_buses and dbus not in mg_buses
                and f"{name} {dbus}" not in mg_buses):
            problems.append(f"{dwhere}.device_state_config.bus: bus {dbus!r} does not exist in "
                            f"{name}'s network (e.g. {', '.join(sorted(mg_buses)[:6])} ...)")
    return problems


def _network_problems(config: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    mgs = _as_list(config.get("microgrid_configs"))
    dso = config.get("dso_config")
    has_dso = bool(dso)  # the env treats an empty dso_config as none
    dso_buses: tuple[str, ...] = ()
    if has_dso and isinstance(dso, Mapping):
        dso_buses = _buses(dso.get("network", "ieee34"), dso.get("name", "DSO"),
                           "dso_config.network", problems)
    if not has_dso and len(mgs) > 1:
        problems.append(f"dso_config is required with {len(mgs)} microgrids: without it exactly "
                        "one microgrid runs stand-alone; add e.g. dso_config: {network: ieee34}")
    names: set[str] = set()
    for i, mg in enumerate(mgs):
        where = f"microgrid_configs[{i}]"
        if not isinstance(mg, Mapping):
            continue
        name = mg.get("name")
        if isinstance(name, str):
            if name in names:
                problems.append(f"{where}.name: duplicate microgrid name {name!r}; each "
                                "microgrid is one agent and needs a name of its own")
            names.add(name)
        problems += _microgrid_problems(mg, where, dso_buses, has_dso)
    return problems


def setup_problems(config: Any) -> list[str]:
    """Every problem of a setup, one line each (empty if valid). Never raises."""
    if not isinstance(config, Mapping):
        return [f"the setup must be a mapping of keys (microgrid_configs: ...), "
                f"got {type(config).__name__}"]
    try:
        SetupConfig.model_validate(dict(config))
        problems: list[str] = []
    except ValidationError as exc:
        problems = describe_errors(exc, SetupConfig)
    return problems + _network_problems(config)

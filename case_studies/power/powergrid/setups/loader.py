"""Setup loader: ``load_setup(name)`` returns an ``env_config`` dict, validated.

Validation runs at load time and reports *every* problem at once (unknown device
types, buses that do not exist in the chosen network, negative capacities,
``p_min > p_max`` ...), each naming the key and how to fix it, because a config
error found after ten minutes of training start-up is the worst kind.

``load_dataset`` is re-exported (``from powergrid.setups.loader import
load_dataset``, as in the user guide's loader); it is
:func:`powergrid.data.dataset.load_dataset`, not a second implementation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from powergrid.agents.device_agent import ConfigError
from powergrid.data.dataset import is_pickle_path, load_dataset  # load_dataset: re-export

SETUPS_DIR = Path(__file__).parent

KNOWN_TOP_KEYS = {
    "dataset_path", "dataset", "train", "penalty", "share_reward", "max_episode_steps",
    "dso_config", "microgrid_configs", "centralized", "message_broker", "redis_url",
    "power_flow", "protocol", "dt", "nonconvergence_penalty", "truncate_on_divergence", "seed",
    "regulator_control", "pad_spaces",
}


def get_available_setups() -> list[str]:
    return sorted(d.name for d in SETUPS_DIR.iterdir()
                  if d.is_dir() and (d / "config.yml").exists())


def load_setup(setup_name: str, validate: bool = True, *, allow_pickle: bool = True,
               defer_pickle: bool = False) -> dict[str, Any]:
    """Load ``setups/<setup_name>/config.yml`` (or a path to a config file).

    ``dataset_path`` is resolved against the config's folder and, if the file
    exists, read into ``config["dataset"]``. A pickled dataset (``.pkl``) runs
    any code inside it when read, so:

    - ``allow_pickle=False`` (strict, ``--no-pickle``) refuses it with a
      :class:`~powergrid.data.dataset.PickleRefusedError` saying how to convert;
    - ``defer_pickle=True`` leaves it unread (no ``"dataset"`` key; the env
      reads ``dataset_path`` when it is built), for commands that only check
      and must never execute data;
    - by default it is read with an ``UnsafeFormatWarning``.
    """
    path = Path(setup_name)
    if path.suffix in (".yml", ".yaml") and path.exists():
        config_file, setup_dir = path, path.parent
    else:
        setup_dir = SETUPS_DIR / setup_name
        config_file = setup_dir / "config.yml"
        if not config_file.exists():
            raise ValueError(f"Setup '{setup_name}' not found. Available: {get_available_setups()}")
    try:
        config = yaml.safe_load(config_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_file}: invalid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{config_file}: top level must be a mapping of keys.")
    if config.get("dataset_path"):
        p = Path(config["dataset_path"])
        config["dataset_path"] = str(p if p.is_absolute() else setup_dir / p)
        if not Path(config["dataset_path"]).exists():
            raise ConfigError(f"{config_file}: dataset_path {config['dataset_path']} does not "
                              "exist. Fix the path or remove the key to use the bundled data.")
        if not (defer_pickle and allow_pickle and is_pickle_path(config["dataset_path"])):
            config["dataset"] = load_dataset(config["dataset_path"], allow_pickle=allow_pickle)
    if validate:
        problems = validate_config(config)
        if problems:
            raise ConfigError(f"{config_file} has {len(problems)} problem(s):\n  - "
                              + "\n  - ".join(problems))
    return config


@lru_cache(maxsize=8)
def _bus_names(network: str, name: str) -> tuple[str, ...]:
    from powergrid.networks import get_network

    return tuple(get_network(network, name=name).bus.name.astype(str))


def validate_config(config: dict[str, Any]) -> list[str]:
    """Return a list of human-readable problems (empty if the config is valid)."""
    from powergrid.agents.registry import DEVICE_REGISTRY

    problems: list[str] = []
    for key in sorted(set(config) - KNOWN_TOP_KEYS):
        problems.append(f"unknown key {key!r}; known keys: {sorted(KNOWN_TOP_KEYS)}")
    for key in ("penalty",):
        if key in config and (not isinstance(config[key], (int, float)) or config[key] < 0):
            problems.append(f"{key} must be a number >= 0, got {config[key]!r}")
    mes = config.get("max_episode_steps", 24)
    if not isinstance(mes, int) or mes < 1:
        problems.append(f"max_episode_steps must be an integer >= 1, got {mes!r}")
    mgs = config.get("microgrid_configs")
    if not isinstance(mgs, list) or not mgs:
        problems.append("microgrid_configs must be a non-empty list of microgrids")
        return problems
    dso = config.get("dso_config") or {}
    dso_buses: tuple[str, ...] = ()
    if dso:
        try:
            dso_buses = _bus_names(dso.get("network", "ieee34"), dso.get("name", "DSO"))
        except ValueError as exc:
            problems.append(f"dso_config.network: {exc}")
    names = set()
    for i, mg in enumerate(mgs):
        where = f"microgrid_configs[{i}]"
        if not isinstance(mg, dict) or "name" not in mg:
            problems.append(f"{where}: needs a 'name'")
            continue
        where = f"microgrid {mg['name']!r}"
        if mg["name"] in names:
            problems.append(f"{where}: duplicate name")
        names.add(mg["name"])
        if mg.get("load_scale", 0.0) < 0:
            problems.append(f"{where}: load_scale must be >= 0")
        if dso and mg.get("connection_bus") not in dso_buses:
            problems.append(f"{where}: connection_bus {mg.get('connection_bus')!r} is not a bus "
                            f"of the DSO network (e.g. {', '.join(dso_buses[:5])} ...)")
        try:
            mg_buses = set(_bus_names(mg.get("network", "ieee13"), mg["name"]))
        except ValueError as exc:
            problems.append(f"{where}.network: {exc}")
            mg_buses = set()
        for j, dev in enumerate(mg.get("devices", []) or []):
            dwhere = f"{where}.devices[{j}]"
            if not isinstance(dev, dict):
                problems.append(f"{dwhere}: must be a mapping with type, name, device_state_config")
                continue
            dwhere = f"{where}.{dev.get('name', j)}"
            cls = DEVICE_REGISTRY.get(dev.get("type"))
            if cls is None:
                problems.append(f"{dwhere}: unknown device type {dev.get('type')!r}; known types: "
                                f"{sorted(DEVICE_REGISTRY)}")
                continue
            sc = dev.get("device_state_config", {}) or {}
            try:
                cls(agent_id=str(dev.get("name", "device")), device_state_config=sc)
            except (ConfigError, ValueError, TypeError) as exc:
                problems.append(f"{dwhere}: {exc}")
            bus = sc.get("bus")
            if bus and mg_buses and bus not in mg_buses and f"{mg['name']} {bus}" not in mg_buses:
                problems.append(f"{dwhere}: bus {bus!r} does not exist in {mg['name']}'s network "
                                f"(e.g. {', '.join(sorted(mg_buses)[:6])} ...)")
    return problems

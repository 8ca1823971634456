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

from pathlib import Path
from typing import Any

import yaml

from powergrid.agents.device_agent import ConfigError
from powergrid.data.dataset import is_pickle_path, load_dataset  # load_dataset: re-export
from powergrid.setups.schema import SetupConfig, setup_problems

SETUPS_DIR = Path(__file__).parent

#: the top-level keys a setup may use (the schema's fields)
KNOWN_TOP_KEYS = frozenset(SetupConfig.model_fields)


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


def validate_config(config: dict[str, Any]) -> list[str]:
    """Return a list of human-readable problems (empty if the config is valid).

    Implemented by the declarative schema (:mod:`powergrid.setups.schema`): every
    problem at once, each as ``<key path> <problem>; <fix>``. Never raises.
    """
    return setup_problems(config)

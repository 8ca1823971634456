"""RLlib training for HERON environments: shared-policy PPO, IPPO and true MAPPO.

Importing this package is cheap and never imports ray or torch: the config and
env wrappers are plain Python; the RLlib pieces are loaded on first use::

    from heron.training import TrainConfig, train
    from heron.training.toy_env import make_toy_env

    result = train(TrainConfig(algo="mappo-cc", iterations=5), make_toy_env, {})

Modules: :mod:`~heron.training.config` (``TrainConfig``),
:mod:`~heron.training.wrappers` (space padding, global-state observations),
:mod:`~heron.training.rllib` (``build_algorithm``),
:mod:`~heron.training.modules` (centralised-critic RLModule),
:mod:`~heron.training.callbacks` (cost / violation metrics),
:mod:`~heron.training.runner` (``train`` -> run folder),
:mod:`~heron.training.evaluate` (``load_policies``),
:mod:`~heron.training.safe_policy` (pickle-free policy files), :mod:`~heron.training.cli`.
"""

from __future__ import annotations

from typing import Any

from heron.training.config import ALGOS, TrainConfig
from heron.training.wrappers import GlobalStateObservation, PadToCommonSpaces

_LAZY = {
    "build_algorithm": "heron.training.rllib",
    "build_config": "heron.training.rllib",
    "save_checkpoint": "heron.training.rllib",
    "train": "heron.training.runner",
    "RunResult": "heron.training.runner",
    "RLlibPolicy": "heron.training.evaluate",
    "load_policies": "heron.training.evaluate",
    "export_safe_policy": "heron.training.safe_policy",
    "load_safe_policies": "heron.training.safe_policy",
    "run_cli": "heron.training.cli",
}

__all__ = ["ALGOS", "TrainConfig", "PadToCommonSpaces", "GlobalStateObservation", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'heron.training' has no attribute {name!r}")

"""TorchRL trainer for vectorized HERON envs (MAPPO-CC, MAPPO, IPPO).

Optional: needs the ``torchrl`` extra (``pip install 'heron-marl[torchrl]'``).
Importing this package does not import torchrl; the names below load it on first
use and, when it is missing, say how to install it::

    from heron.training.torchrl import HeronVectorEnv, LoopVectorEnv, train

* :mod:`.vector`: the vectorized interface and :class:`LoopVectorEnv` (N copies of
  any HERON ParallelEnv; no torchrl needed);
* :mod:`.env`: :class:`HeronVectorEnv`, the TorchRL ``EnvBase`` adapter;
* :mod:`.models`: actors and critics per algorithm;
* :mod:`.trainer`: the training loop, run folder and checkpoints;
* :mod:`.policy`: a checkpoint as plain per-agent ``Policy`` objects for evaluation.
"""

from __future__ import annotations

import importlib
from typing import Any

from heron.training.torchrl.vector import LoopVectorEnv, vector_observation_stats

INSTALL_HINT = ("the TorchRL trainer needs torchrl and tensordict: "
                "pip install 'heron-marl[torchrl]' (or pip install 'torchrl==0.14.*' "
                "'tensordict==0.14.*').")

_LAZY = {
    "HeronVectorEnv": "heron.training.torchrl.env",
    "train": "heron.training.torchrl.trainer",
    "load_checkpoint": "heron.training.torchrl.trainer",
    "save_checkpoint": "heron.training.torchrl.trainer",
    "build_learner": "heron.training.torchrl.trainer",
    "load_torchrl_policies": "heron.training.torchrl.policy",
    "TorchRLPolicy": "heron.training.torchrl.policy",
}

__all__ = ["INSTALL_HINT", "LoopVectorEnv", "require_torchrl", "vector_observation_stats",
           *_LAZY]


class TorchRLMissingError(ImportError):
    """torchrl (or tensordict) is not installed."""


def require_torchrl() -> None:
    """Raise :class:`TorchRLMissingError` with the install command if torchrl is absent."""
    try:
        import tensordict  # noqa: F401
        import torchrl  # noqa: F401
    except ImportError as exc:
        raise TorchRLMissingError(f"{INSTALL_HINT} ({exc})") from exc


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        require_torchrl()
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

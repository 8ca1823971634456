"""Environment skeletons and wrappers."""

from heron.envs.base import HeronParallelEnv
from heron.envs.wrappers import StrictPettingZoo

__all__ = ["HeronParallelEnv", "StrictPettingZoo"]

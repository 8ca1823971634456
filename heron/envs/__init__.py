"""Environment skeletons and wrappers."""

from heron.envs.base import HeronParallelEnv
from heron.envs.keys import ALL_AGENTS_KEY, agent_entries
from heron.envs.wrappers import StrictPettingZoo

__all__ = ["ALL_AGENTS_KEY", "HeronParallelEnv", "StrictPettingZoo", "agent_entries"]

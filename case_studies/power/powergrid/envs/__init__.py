"""Power-grid environments (PettingZoo ParallelEnv)."""

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.envs.networked_grid_env import NetworkedGridEnv

__all__ = ["NetworkedGridEnv", "MultiAgentMicrogrids"]

"""Power-grid environments (PettingZoo ParallelEnv).

The env classes load on first use (PEP 562), so that device modules can import
:mod:`powergrid.envs.array_devices` without importing the envs, which import them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NetworkedGridEnv", "MultiAgentMicrogrids"]


def __getattr__(name: str) -> Any:
    if name == "MultiAgentMicrogrids":
        from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

        return MultiAgentMicrogrids
    if name == "NetworkedGridEnv":
        from powergrid.envs.networked_grid_env import NetworkedGridEnv

        return NetworkedGridEnv
    raise AttributeError(f"module 'powergrid.envs' has no attribute {name!r}")

"""Replay oracle setpoints through the environment as ordinary policies.

Why as :class:`heron.core.policies.Policy` objects: evaluation then treats the
oracle exactly like RL checkpoints and baselines (same rollout loop, same cost
accounting), so the optimality gap is measured by the environment, not by the
optimiser's own bookkeeping.

Each setpoint is turned back into the normalised action the device maps to it by
the device's own ``action_for`` (the one inverse of its action map; nothing here
re-derives it or asks which type the device is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from heron.core.policies import Policy

if TYPE_CHECKING:
    from powergrid.optimization.oracle import OracleResult


def device_actions(dev: Any, rec: dict[str, np.ndarray]) -> np.ndarray:
    """(T, action_dim) normalised actions that make ``dev`` produce the setpoints ``rec``.

    Committed generators stay on (the oracle keeps them on); renewables are scaled by
    the availability the oracle planned with (``p_avail_MW``).
    """
    from powergrid.agents.device_agent import Setpoint, has_inverse

    if not has_inverse(dev):
        raise TypeError(f"no inverse action mapping for {type(dev).__name__} "
                        f"{dev.agent_id!r}: implement action_for(setpoint).")
    tap = rec.get("tap")
    p = np.atleast_1d(np.asarray(rec.get("p_MW", 0.0), dtype=float))
    if tap is not None:
        p = np.zeros(np.size(tap))
    q = np.asarray(rec.get("q_MVAr", np.zeros_like(p)), dtype=float)
    avail = rec.get("p_avail_MW")
    return dev.action_for(Setpoint(
        p_MW=p, q_MVAr=q, on=True,
        tap=None if tap is None else np.asarray(tap, dtype=float),
        p_available_MW=None if avail is None else np.asarray(avail, dtype=float)))


class OraclePolicy(Policy):
    """Plays a precomputed action sequence, one row per ``forward`` call.

    The step counter is internal (the observation is ignored: the oracle already
    knows the whole day) and ``reset()`` rewinds it, so the policy must be reset
    together with the environment (``run_episode`` and ``rollout`` do).
    """

    def __init__(self, actions: np.ndarray, agent_id: str = "") -> None:
        self.actions = np.asarray(actions, dtype=np.float32)
        self.agent_id = agent_id
        self.step = 0

    def reset(self, seed: int | None = None) -> None:
        self.step = 0

    def forward(self, observation: Any) -> np.ndarray:
        if self.step >= len(self.actions):
            raise IndexError(f"OraclePolicy {self.agent_id!r}: the oracle planned "
                             f"{len(self.actions)} steps; episode is longer (reset() between "
                             "episodes, and use max_episode_steps <= horizon).")
        a = self.actions[self.step].copy()
        self.step += 1
        return a


def oracle_policies(result: OracleResult, env: Any) -> dict[str, OraclePolicy]:
    """One :class:`OraclePolicy` per agent of ``env`` replaying ``result``."""
    out = {}
    for agent_id in env.possible_agents:
        if agent_id not in result.setpoints:
            raise KeyError(f"agent {agent_id!r} is not in the oracle result "
                           f"({sorted(result.setpoints)}); was it solved for another setup?")
        agent = env.agent_dict[agent_id]
        parts = []
        for name, dev in agent.devices.items():
            rec = result.setpoints[agent_id].get(name)
            if rec is None:
                raise KeyError(f"device {agent_id}/{name} missing from the oracle result.")
            parts.append(device_actions(dev, rec))
        actions = np.concatenate(parts, axis=1) if parts else np.zeros((result.horizon, 0))
        out[agent_id] = OraclePolicy(actions, agent_id)
    return out

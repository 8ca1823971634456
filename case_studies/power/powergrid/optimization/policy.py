"""Replay oracle setpoints through the environment as ordinary policies.

Why as :class:`heron.core.policies.Policy` objects: evaluation then treats the
oracle exactly like RL checkpoints and baselines (same rollout loop, same cost
accounting), so the optimality gap is measured by the environment, not by the
optimiser's own bookkeeping.

Each setpoint is turned back into the normalised action the device maps to it,
i.e. the inverse of the device's ``set_device_action``:

* Generator ``[p, q(, on)]``: ``a = 2 (x - x_min) / (x_max - x_min) - 1``;
* ESS ``[p(, q)]``: the grid-side power ``p_dis - p_ch`` on ``[p_min, p_max]``,
  ``q / q_max``;
* PV / wind ``[frac(, q)]``: ``frac = p / p_available`` mapped to [-1, 1],
  ``q / (p tan(phi))``;
* Transformer: the tap position on ``[tap_min, tap_max]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from heron.core.policies import Policy

if TYPE_CHECKING:
    from powergrid.optimization.oracle import OracleResult


def _norm(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    span = hi - lo
    if span <= 0:
        return np.zeros_like(x)
    return np.clip(2.0 * (x - lo) / span - 1.0, -1.0, 1.0)


def device_actions(dev: Any, rec: dict[str, np.ndarray]) -> np.ndarray:
    """(T, action_dim) normalised actions that make ``dev`` produce the setpoints ``rec``."""
    from powergrid.agents.generator import Generator
    from powergrid.agents.renewables import RenewableGenerator
    from powergrid.agents.storage import ESS
    from powergrid.agents.transformer import Transformer

    c = dev.config
    dim = int(dev.get_action_space().shape[0])
    p = np.asarray(rec.get("p_MW", 0.0), dtype=float)
    q = np.asarray(rec.get("q_MVAr", np.zeros_like(p)), dtype=float)
    T = p.size if p.ndim else len(rec["tap"])
    a = np.zeros((T, dim))
    if isinstance(dev, Generator):
        a[:, 0] = _norm(p, c.p_min_MW, c.p_max_MW)
        a[:, 1] = _norm(q, c.q_min_MVAr, c.q_max_MVAr)
        if dim > 2:
            a[:, 2] = 1.0  # the oracle keeps committed units on
    elif isinstance(dev, ESS):
        a[:, 0] = _norm(p, c.p_min_MW, c.p_max_MW)
        if dim > 1:
            a[:, 1] = np.clip(q / c.q_max_MVAr, -1.0, 1.0) if c.q_max_MVAr > 0 else 0.0
    elif isinstance(dev, RenewableGenerator):
        avail = np.asarray(rec["p_avail_MW"], dtype=float)
        frac = np.divide(p, avail, out=np.ones_like(p), where=avail > 1e-12)
        a[:, 0] = np.clip(2.0 * frac - 1.0, -1.0, 1.0)
        if dim > 1:
            tan_phi = float(np.tan(np.arccos(c.pf_min)))
            den = p * tan_phi
            a[:, 1] = np.clip(np.divide(q, den, out=np.zeros_like(q), where=den > 1e-12), -1, 1)
    elif isinstance(dev, Transformer):
        tap = np.asarray(rec["tap"], dtype=float)
        a[:, 0] = _norm(tap, c.tap_min, c.tap_max)
    else:
        raise TypeError(f"no inverse action mapping for {type(dev).__name__} {dev.agent_id!r}.")
    return a.astype(np.float32)


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

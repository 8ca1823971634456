"""Baseline policies, all behind heron's ``Policy`` interface.

* ``RandomPolicy``: uniform actions (a floor every learner must beat).
* ``RuleBasedPolicy``: what an operator would script: renewables deliver all they
  can, generators follow the microgrid's net load when the price is above their
  marginal cost, batteries charge when power is cheap and discharge when it is dear.
* ``ZeroPolicy``: every normalised action 0 (mid-range setpoints).
* ``oracle``: the optimal-dispatch solution of a day (``powergrid.optimization``), replayed.

Rule-based policies read the grid agent's measured state (load, price, SOC) rather
than parsing the flat observation vector; a real controller has the same
measurements, and the RL policy sees the same numbers in its observation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heron.core.policies import ConstantPolicy, Policy, RandomPolicy
from powergrid.agents.generator import Generator
from powergrid.agents.renewables import RenewableGenerator
from powergrid.agents.storage import ESS
from powergrid.agents.transformer import Transformer


class RuleBasedPolicy(Policy):
    def __init__(self, grid_agent: Any, low_price: float = 38.0, high_price: float = 50.0) -> None:
        if low_price >= high_price:
            raise ValueError("RuleBasedPolicy: low_price must be below high_price.")
        self.agent = grid_agent
        self._names: list[str] | None = None
        self._index: dict[str, int] = {}
        self.low_price = low_price
        self.high_price = high_price

    def _measurements(self, observation: Any) -> tuple[float, float]:
        """(price, renewable availability) from the observation when it has the right
        layout (so delayed observations really delay the controller), else from state."""
        agent = self.agent
        if self._names is None:
            self._names = agent.observation_names()
            self._index = {n: i for i, n in enumerate(self._names)}
        obs = None if observation is None else np.asarray(observation).ravel()
        if obs is not None and obs.size == len(self._names):
            idx = self._index
            price = float(obs[idx["exchange.price"]])
            load = float(obs[idx["exchange.total_load_MW"]])
            renewable = sum(float(obs[i]) for n, i in idx.items()
                            if n.endswith(".availability.p_available_MW"))
            return price, max(0.0, load - renewable)
        ex = agent.state.exchange
        renewable = sum(d.available_power for d in agent.devices.values()
                        if isinstance(d, RenewableGenerator) or hasattr(d, "available_power"))
        return ex.price, max(0.0, ex.total_load_MW - renewable)

    def forward(self, observation: Any) -> np.ndarray:
        agent = self.agent
        price, net_load = self._measurements(observation)
        parts = []
        for dev in agent.devices.values():
            dim = dev.get_action_space().shape[0]
            a = np.zeros(dim, dtype=np.float32)
            if isinstance(dev, Generator):
                c = dev.config
                coef_a, coef_b, _ = (float(x) for x in c.cost_curve_coefs)
                p = float(np.clip(net_load, c.p_min_MW, c.p_max_MW))
                if price < 2 * coef_a * p + coef_b:
                    p = c.p_min_MW
                a[0] = 2 * (p - c.p_min_MW) / max(c.p_max_MW - c.p_min_MW, 1e-9) - 1
                if dim > 2:
                    a[2] = 1.0
            elif isinstance(dev, ESS):
                a[:] = dev.respond_to_price(price, self.low_price, self.high_price)
            elif isinstance(dev, Transformer):
                c = dev.config
                a[0] = 2 * (c.init_tap - c.tap_min) / (c.tap_max - c.tap_min) - 1
            elif hasattr(dev, "available_power"):
                a[:] = dev.get_action_space().high  # deliver everything
            parts.append(a)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


POLICY_KINDS = ("random", "rule", "zero", "oracle")


def make_policies(env: Any, kind: str, seed: int | None = 0, day: int | None = None
                  ) -> dict[str, Policy]:
    """One policy per agent of ``env`` for a baseline ``kind``.

    ``oracle`` solves the perfect-forecast optimal dispatch of test ``day`` and replays
    it (the episode must then be reset with ``options={"day": day}``).
    """
    if kind == "oracle":
        if day is None:
            raise ValueError("make_policies(env, 'oracle') needs day=<test day index>.")
        from powergrid.optimization import solve_day

        result = solve_day(env.env_config, day, split=env.split,
                           horizon=env.max_episode_steps, env=env)
        return result.to_policies(env)
    if kind == "random":
        return {a: RandomPolicy(env.action_space(a), seed=None if seed is None else seed + i)
                for i, a in enumerate(env.possible_agents)}
    if kind == "rule":
        return {a: RuleBasedPolicy(env.agent_dict[a]) for a in env.possible_agents}
    if kind == "zero":
        return {a: ConstantPolicy(np.zeros(env.action_space(a).shape)) for a in env.possible_agents}
    raise ValueError(f"Unknown policy kind {kind!r}; choose from {POLICY_KINDS}.")

"""A hierarchical PettingZoo ``ParallelEnv`` skeleton.

Every HERON environment has the same outer loop: RL agents are coordinators; each
step their flat action is split over subordinates by a protocol, the domain
simulates, then costs and safety turn into rewards. Subclasses provide the domain
pieces (``_build_agents``, ``_simulate``, ``_reward_and_safety``); this class owns
the bookkeeping that is easy to get subtly wrong: space caching (PettingZoo's
checker wants identical objects), float32 observations, ``__all__`` keys for
RLlib, truncation, shared rewards and seeding.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from heron.agents.coordinator_agent import CoordinatorAgent


class HeronParallelEnv(ParallelEnv):
    metadata = {"render_modes": [], "name": "heron_parallel_v0"}

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.env_config = dict(env_config or {})
        self.max_episode_steps = int(self.env_config.get("max_episode_steps", 24))
        if self.max_episode_steps < 1:
            raise ValueError("max_episode_steps must be >= 1.")
        self.penalty = float(self.env_config.get("penalty", 10.0))
        self.share_reward = bool(self.env_config.get("share_reward", False))
        self.agent_dict: dict[str, CoordinatorAgent] = {}
        self.possible_agents: list[str] = []
        self.agents: list[str] = []
        self._t = 0
        self.np_random = np.random.default_rng(self.env_config.get("seed"))

    # -- hooks for subclasses -------------------------------------------------------
    @abstractmethod
    def _build_agents(self) -> None:
        """Fill ``self.agent_dict`` and ``self.possible_agents``."""

    @abstractmethod
    def _simulate(self) -> dict[str, dict[str, Any]]:
        """Advance the domain one step after actions were applied; return extra infos."""

    @abstractmethod
    def _reward_and_safety(self) -> tuple[dict[str, float], dict[str, float]]:
        """Return ``(rewards, safety)`` before the safety penalty is applied."""

    def _reset_domain(self, seed: int | None, options: dict | None) -> None:
        """Reset domain state (time series, network); default: nothing."""

    def _apply_actions(self, actions: dict[str, Any]) -> None:
        for agent_id in self.agents:
            if agent_id not in actions:
                raise KeyError(
                    f"No action for agent {agent_id!r}; step() needs one per live agent "
                    f"({self.agents})."
                )
            self.agent_dict[agent_id].coordinate(actions[agent_id])
        unknown = set(actions) - set(self.agent_dict)
        if unknown:
            raise KeyError(f"Actions for unknown agent(s) {sorted(unknown)}; "
                           f"agents are {self.possible_agents}.")

    def _observe(self, agent_id: str) -> np.ndarray:
        return self.agent_dict[agent_id].observe()

    # -- spaces -------------------------------------------------------------------
    def _init_spaces(self) -> None:
        self.observation_spaces: dict[str, spaces.Box] = {}
        self.action_spaces: dict[str, spaces.Box] = {}
        for agent_id, agent in self.agent_dict.items():
            obs = self._observe(agent_id)
            self.observation_spaces[agent_id] = spaces.Box(
                low=-np.inf, high=np.inf, shape=obs.shape, dtype=np.float32)
            self.action_spaces[agent_id] = agent.get_flat_action_space()

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self.action_spaces[agent]

    # -- PettingZoo API ------------------------------------------------------------
    def _all_obs(self) -> dict[str, np.ndarray]:
        return {a: np.asarray(self._observe(a), dtype=np.float32) for a in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
            for i, agent_id in enumerate(self.possible_agents):
                self.action_spaces[agent_id].seed(seed + i)
        self._t = 0
        self.agents = list(self.possible_agents)
        for agent in self.agent_dict.values():
            agent.reset(seed)
        self._reset_domain(seed, options)
        return self._all_obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first.")
        self._apply_actions(actions)
        extra = self._simulate() or {}
        self._t += 1
        rewards, safety = self._reward_and_safety()
        rewards = {a: float(rewards[a]) - self.penalty * float(safety[a]) for a in self.agents}
        if self.share_reward:
            mean = float(np.mean(list(rewards.values())))
            rewards = {a: mean for a in rewards}
        obs = self._all_obs()
        truncated = self._t >= self.max_episode_steps or bool(extra.pop("__truncate__", False))
        terminateds = {a: False for a in self.agents}
        truncateds = {a: truncated for a in self.agents}
        terminateds["__all__"] = False
        truncateds["__all__"] = truncated
        infos = {a: {"safety": float(safety[a]), **extra.get(a, {})} for a in self.agents}
        if truncated:
            self.agents = []
        return obs, rewards, terminateds, truncateds, infos

    def state(self) -> np.ndarray:
        """Global state for centralized critics: every agent's full state."""
        parts = [a.state.to_array("owner") for a in self.agent_dict.values()]
        for a in self.agent_dict.values():
            parts.extend(s.state.to_array("owner") for s in a.subordinate_agents.values())
        return np.concatenate(parts).astype(np.float32)

    def close(self) -> None:
        pass

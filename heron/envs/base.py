"""A hierarchical PettingZoo ``ParallelEnv`` skeleton.

Every HERON environment has the same outer loop: RL agents are coordinators; each
step their flat action is split over subordinates by a protocol, the domain
simulates, then costs and safety turn into rewards. Subclasses provide the domain
pieces (``_build_agents``, ``_simulate``, ``_reward_and_safety``); this class owns
the bookkeeping that is easy to get subtly wrong: space caching (PettingZoo's
checker wants identical objects), float32 observations, ``__all__`` keys for
RLlib, truncation, shared rewards, seeding and space padding.

Space padding (config key ``pad_spaces``)
-----------------------------------------
A shared policy (one network for every agent, as RLlib's ``policies={'shared':
(None, obs_space, act_space, {})}`` in the user guide) needs every agent to have the
same observation and action space, but agents that own different devices have
different sizes. With ``pad_spaces: true`` every agent gets::

    observation = [own observation (native_obs_dim entries), 0, 0, ...]   # common size
    action      = [own action (native_act_dim entries), ignored, ...]     # common size

Padded observation entries are always exactly 0. Padded action entries are
dropped before the action reaches the agent, so they never change the simulation;
``step`` also accepts an action of the agent's native size. The native spaces stay
available as ``native_observation_spaces`` / ``native_action_spaces``. The default
is off here (domain-agnostic) and domains may turn it on (``default_pad_spaces``).
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
    #: ``pad_spaces`` when the config does not say (see the module docstring)
    default_pad_spaces: bool = False

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.env_config = dict(env_config or {})
        self.max_episode_steps = int(self.env_config.get("max_episode_steps", 24))
        if self.max_episode_steps < 1:
            raise ValueError("max_episode_steps must be >= 1.")
        self.penalty = float(self.env_config.get("penalty", 10.0))
        self.share_reward = bool(self.env_config.get("share_reward", False))
        self.pad_spaces = self.env_config.get("pad_spaces", self.default_pad_spaces)
        if not isinstance(self.pad_spaces, bool):
            raise ValueError(f"pad_spaces must be true or false, got {self.pad_spaces!r}.")
        self._padded = False
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
    def _agent_action_space(self, agent_id: str) -> spaces.Box:
        """The agent's own (native) flat action space; domains may extend it."""
        return self.agent_dict[agent_id].get_flat_action_space()

    def _init_spaces(self) -> None:
        self.native_observation_spaces: dict[str, spaces.Box] = {}
        self.native_action_spaces: dict[str, spaces.Box] = {}
        for agent_id in self.agent_dict:
            obs = self._observe(agent_id)
            self.native_observation_spaces[agent_id] = spaces.Box(
                low=-np.inf, high=np.inf, shape=obs.shape, dtype=np.float32)
            self.native_action_spaces[agent_id] = self._agent_action_space(agent_id)
        self.observation_spaces = dict(self.native_observation_spaces)
        self.action_spaces = dict(self.native_action_spaces)
        self._padded = self.pad_spaces and self._spaces_differ()
        if self._padded:
            self._init_padded_spaces()

    def _spaces_differ(self) -> bool:
        def key(s: spaces.Box) -> tuple:
            return (s.shape, s.low.tobytes(), s.high.tobytes())

        return (len({key(s) for s in self.native_observation_spaces.values()}) > 1
                or len({key(s) for s in self.native_action_spaces.values()}) > 1)

    def _init_padded_spaces(self) -> None:
        for what, native in (("observation", self.native_observation_spaces),
                             ("action", self.native_action_spaces)):
            for agent_id, space in native.items():
                if not isinstance(space, spaces.Box) or len(space.shape) != 1:
                    raise TypeError(f"pad_spaces needs 1-D Box {what} spaces; {agent_id!r} has "
                                    f"{space}. Set pad_spaces: false.")
        obs_dim = max(s.shape[0] for s in self.native_observation_spaces.values())
        act_dim = max(s.shape[0] for s in self.native_action_spaces.values())
        # Common action bounds: the widest bound of any agent at each position; a padded
        # position is [-1, 1]. Each agent's action is clipped back to its own bounds.
        low = np.full(act_dim, np.inf)
        high = np.full(act_dim, -np.inf)
        for s in self.native_action_spaces.values():
            n = s.shape[0]
            lo = np.concatenate([s.low.astype(np.float64), np.full(act_dim - n, -1.0)])
            hi = np.concatenate([s.high.astype(np.float64), np.full(act_dim - n, 1.0)])
            low, high = np.minimum(low, lo), np.maximum(high, hi)
        obs_space = spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        act_space = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        for agent_id in self.agent_dict:
            self.observation_spaces[agent_id] = obs_space
            self.action_spaces[agent_id] = act_space

    def padding_layout(self) -> dict[str, Any]:
        """JSON-able description of the padding (``padded`` False when spaces are native)."""
        return {
            "padded": bool(self._padded),
            "obs_dim": {a: int(s.shape[0]) for a, s in self.observation_spaces.items()},
            "act_dim": {a: int(s.shape[0]) for a, s in self.action_spaces.items()},
            "native_obs_dim": {a: int(s.shape[0])
                               for a, s in self.native_observation_spaces.items()},
            "native_act_dim": {a: int(s.shape[0]) for a, s in self.native_action_spaces.items()},
        }

    def _pad_observation(self, agent_id: str, obs: np.ndarray) -> np.ndarray:
        if not self._padded:
            return obs
        out = np.zeros(self.observation_spaces[agent_id].shape, dtype=np.float32)
        out[: obs.shape[0]] = obs
        return out

    def _unpad_actions(self, actions: Any) -> Any:
        """Padded actions -> native actions (extra entries dropped, own bounds kept)."""
        if not self._padded or not isinstance(actions, dict):
            return actions
        out = dict(actions)
        for agent_id, action in actions.items():
            if agent_id not in self.native_action_spaces or action is None \
                    or isinstance(action, dict):
                continue  # unknown agents and malformed actions get the domain's error
            native = self.native_action_spaces[agent_id]
            try:
                flat = np.asarray(action, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                continue
            n, padded = native.shape[0], self.action_spaces[agent_id].shape[0]
            if flat.size == padded and padded != n:
                # a padded bound may be wider than this agent's own one
                out[agent_id] = np.clip(flat[:n], native.low, native.high)
            # any other size goes on unchanged: the domain's own check names what it needs
        return out

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self.action_spaces[agent]

    # -- PettingZoo API ------------------------------------------------------------
    def _all_obs(self) -> dict[str, np.ndarray]:
        return {a: self._pad_observation(a, np.asarray(self._observe(a), dtype=np.float32))
                for a in self.agents}

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
        self._apply_actions(self._unpad_actions(actions))
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

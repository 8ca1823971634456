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

Execution modes (config keys ``centralized``, ``message_broker``, ``redis_url``)
-------------------------------------------------------------------------------
How actions reach the agents and observations come back is ``self.execution``
(:mod:`heron.envs.execution`): in place by default, as messages through a proxy with
``centralized: false``, or the distributed host's remote mode, passed as
``execution=``. ``_apply_actions`` and ``_observe`` ask the mode, so every domain runs
in all three without a branch of its own.

Actions (checked once, at the boundary)
---------------------------------------
``step(actions)`` validates *every* action before anything changes (no device
set-point, timer, SOC, time index or RNG draw), so a rejected step leaves the env
exactly as it was and can be retried. ``actions`` must be a dict with one entry per
live agent and no unknown ids (else :class:`~heron.core.action.ActionKeyError`, a
``KeyError``). Each entry is an array of real numbers of the agent's native size or,
when padded, the padded size (any shape holding that many numbers, e.g. ``(1, n)``),
or a dict with one array per part of :meth:`HeronParallelEnv.action_layout` (one per
device). ``None``, strings, ragged lists, partial dicts and NaN/inf anywhere
(padded entries included) raise :class:`~heron.core.action.ActionError`, naming the
agent, the device at fault, the expected shape and range and what was received.
Finite values outside the action space are clipped to it, as RL libraries do; the
same rules hold in every execution mode because they run here, before the domain's
``_apply_actions`` sees already validated native float arrays. (Only flat ``Box``
action spaces are checked here; an agent with another space gets its action as given.)
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from heron.agents.coordinator_agent import CoordinatorAgent
from heron.agents.proxy_agent import ProxyAgent
from heron.core.action import (
    ActionError,
    ActionKeyError,
    describe_box,
    nonfinite_message,
    short_repr,
    to_real_array,
)
from heron.envs.execution import ExecutionMode, execution_from_config
from heron.envs.keys import ALL_AGENTS_KEY
from heron.messaging.base import MessageBroker


class HeronParallelEnv(ParallelEnv):
    metadata = {"render_modes": [], "name": "heron_parallel_v0"}
    #: ``pad_spaces`` when the config does not say (see the module docstring)
    default_pad_spaces: bool = False

    def __init__(self, env_config: dict[str, Any] | None = None,
                 execution: ExecutionMode | None = None) -> None:
        """``execution``: how actions and observations travel (see
        :mod:`heron.envs.execution`); default: what the config's ``centralized``,
        ``message_broker`` and ``redis_url`` ask for."""
        super().__init__()
        self.env_config = dict(env_config or {})
        steps = self.env_config.get("max_episode_steps", 24)
        if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) \
                or steps < 1:
            raise ValueError(f"max_episode_steps must be an integer >= 1, got {steps!r}.")
        self.max_episode_steps = int(steps)
        self.penalty = self.config_number("penalty", 10.0, minimum=0.0)
        self.share_reward = self.config_flag("share_reward", False)
        self.pad_spaces = self.config_flag("pad_spaces", self.default_pad_spaces)
        self._padded = False
        self.agent_dict: dict[str, CoordinatorAgent] = {}
        self.possible_agents: list[str] = []
        self.agents: list[str] = []
        self._t = 0
        self.np_random = np.random.default_rng(self.env_config.get("seed"))
        # last: a Redis broker connects here, once the cheap checks have passed
        self.execution: ExecutionMode = execution if execution is not None else \
            execution_from_config(self.env_config, self.config_flag("centralized", True))

    @property
    def centralized(self) -> bool:
        """Whether agents act and observe in place (:class:`DirectExecution`)."""
        return self.execution.centralized

    @property
    def message_broker(self) -> MessageBroker | None:
        """The execution mode's broker; ``None`` when no messages are passed."""
        return self.execution.broker

    @property
    def proxy(self) -> ProxyAgent | None:
        """The execution mode's proxy, the only holder of state when messages are passed
        (``None`` when centralized)."""
        return self.execution.proxy

    def config_flag(self, key: str, default: bool) -> bool:
        """A true/false config key, strictly: ``'false'`` (a truthy string) is an error."""
        value = self.env_config.get(key, default)
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise ValueError(f"{key} must be true or false, got {value!r}; write true or false "
                         "without quotes.")

    def config_number(self, key: str, default: float, *, minimum: float | None = None,
                      positive: bool = False) -> float:
        """A finite real config key, with its range checked (no ZeroDivisionError later)."""
        value = self.env_config.get(key, default)
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)) and np.isfinite(value)
        if ok and positive and value <= 0:
            ok = False
        if ok and minimum is not None and value < minimum:
            ok = False
        if not ok:
            rule = "> 0" if positive else (f">= {minimum}" if minimum is not None else "finite")
            raise ValueError(f"{key} must be a finite number {rule}, got {value!r}.")
        return float(value)

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

    def _truncate_early(self) -> bool:
        """Whether the domain ends the episode now, before ``max_episode_steps``.

        Called after ``_simulate``; e.g. a power flow that did not converge. The
        default never does.
        """
        return False

    def _reset_domain(self, seed: int | None, options: dict | None) -> None:
        """Reset domain state (time series, network); default: nothing."""

    def _load_step_data(self) -> None:
        """This step's exogenous data (loads, prices, weather), before any action is
        applied; called only once the actions are validated. Default: none."""

    def _apply_actions(self, actions: dict[str, np.ndarray]) -> None:
        """Apply already validated native actions (see :meth:`validate_actions`) as the
        execution mode delivers them."""
        delivered = self.execution.deliver(actions)
        for agent_id in self.agents:
            self.agent_dict[agent_id].coordinate(delivered[agent_id])

    def _observe(self, agent_id: str) -> np.ndarray:
        """``agent_id``'s native observation, by the execution mode's route."""
        return self.execution.observe(agent_id)

    def local_observation(self, agent_id: str) -> np.ndarray:
        """The observation read in place (the direct mode's route); a domain whose
        agents observe more than their visible state overrides this."""
        return self.agent_dict[agent_id].observe()

    def observation_owners(self, agent_id: str) -> list[str]:
        """Whose state ``agent_id`` observes, in observation order (its subordinates,
        then itself), as :meth:`CoordinatorAgent.observe` concatenates them; the
        message-passing modes ask the proxy for exactly these owners."""
        return [*getattr(self.agent_dict[agent_id], "subordinate_agents", {}), agent_id]

    # -- spaces -------------------------------------------------------------------
    def _agent_action_space(self, agent_id: str) -> spaces.Box:
        """The agent's own (native) flat action space; domains may extend it."""
        return self.agent_dict[agent_id].get_flat_action_space()

    def _init_spaces(self) -> None:
        # the first point where every agent exists: the mode registers them now
        self.execution.attach(self)
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

    # -- action validation (the one boundary; see the module docstring) ----------------
    def action_layout(self, agent_id: str) -> dict[str, int]:
        """Names and sizes of the parts of ``agent_id``'s native flat action, in order
        (one per device for setpoints); the keys a dict action must have."""
        agent = self.agent_dict[agent_id]
        layout = getattr(agent, "action_layout", None)
        n = int(self.native_action_spaces[agent_id].shape[0])
        parts = layout() if layout is not None else {"action": n}
        return parts if sum(parts.values()) == n else {"action": n}

    def _expected_action(self, agent_id: str) -> str:
        native = self.native_action_spaces[agent_id]
        parts = ", ".join(f"{k}: {v}" for k, v in self.action_layout(agent_id).items())
        text = f"{native.shape[0]} real numbers ({parts}), {describe_box(native)}"
        padded = self.action_spaces[agent_id].shape[0]
        if self._padded and padded != native.shape[0]:
            text += f", or {padded} with padding (entries past {native.shape[0]} are ignored)"
        return text

    def validate_actions(self, actions: Any) -> dict[str, np.ndarray]:
        """Every live agent's action as a finite native float64 array, clipped to its
        space; raises :class:`ActionError` (:class:`ActionKeyError` for ids) otherwise.

        Nothing is changed here, so a caller may validate, then apply.
        """
        if not isinstance(actions, Mapping):
            raise ActionError(
                problem=f"step() takes a dict {{agent_id: action}} with one action per live "
                        f"agent {list(self.agents)}, got {type(actions).__name__}",
                expected=f"a dict with keys {list(self.agents)}", received=short_repr(actions))
        missing = [a for a in self.agents if a not in actions]
        unknown = [k for k in actions if not isinstance(k, str) or k not in self.agent_dict]
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"no action for agent(s) {missing}; step() needs one per live "
                                "agent")
            if unknown:
                problems.append("actions for unknown agent(s) "
                                + ", ".join(sorted(map(repr, unknown))))
            raise ActionKeyError(
                problem="; ".join(problems) + f" (agents are {self.possible_agents})",
                agent=missing[0] if len(missing) == 1 else None,
                expected=f"a dict with keys {list(self.agents)}",
                received=f"keys {short_repr(list(actions))}")
        return {a: self._validate_agent_action(a, actions[a])
                if self._flat_box(self.native_action_spaces[a]) else actions[a]
                for a in self.agents}

    @staticmethod
    def _flat_box(space: spaces.Space) -> bool:
        """Only flat Box actions are checked here; other spaces are the domain's to check."""
        return isinstance(space, spaces.Box) and len(space.shape) == 1

    def _validate_agent_action(self, agent_id: str, action: Any) -> np.ndarray:
        native = self.native_action_spaces[agent_id]
        n, padded = int(native.shape[0]), int(self.action_spaces[agent_id].shape[0])

        def fail(problem: str, device: str | None = None) -> ActionError:
            return ActionError(problem=problem, agent=agent_id, device=device,
                               expected=self._expected_action(agent_id),
                               received=short_repr(action))

        if isinstance(action, Mapping):
            flat = self._flatten_dict_action(agent_id, action)
        else:
            flat = to_real_array(action, agent=agent_id,
                                 expected=lambda: self._expected_action(agent_id)).reshape(-1)
        if flat.size != n and not (self._padded and flat.size == padded):
            raise fail(f"has {flat.size} values")
        # fast path (every step): a NaN/inf anywhere makes the sum non-finite
        if not math.isfinite(flat.sum()) and not (finite := np.isfinite(flat)).all():
            raise fail(nonfinite_message(flat), self._part_at(agent_id, np.flatnonzero(~finite)))
        return np.minimum(np.maximum(flat[:n], native.low), native.high)

    def _part_at(self, agent_id: str, entries: np.ndarray) -> str | None:
        """The device(s) owning flat ``entries`` (``"padding"`` past the native size)."""
        bounds, names, start = [], [], 0
        for name, size in self.action_layout(agent_id).items():
            bounds.append((start, start + size))
            names.append(name)
            start += size
        hit = []
        for e in entries.tolist():
            owner = next((nm for nm, (lo, hi) in zip(names, bounds) if lo <= e < hi), "padding")
            if owner not in hit:
                hit.append(owner)
        return ", ".join(hit) if hit else None

    def _flatten_dict_action(self, agent_id: str, action: Mapping) -> np.ndarray:
        """``{part: array}`` -> the flat native action; every part must be present."""
        layout = self.action_layout(agent_id)
        expected = (f"a dict with one array per part ("
                    f"{', '.join(f'{k}: {v}' for k, v in layout.items())}), or a flat array")
        missing = [k for k in layout if k not in action]
        unknown = [k for k in action if k not in layout]
        if missing or unknown:
            problems = ([f"no action for {missing}"] if missing else []) + (
                ["unknown key(s) " + ", ".join(sorted(map(repr, unknown)))] if unknown else [])
            raise ActionError(problem="dict action: " + "; ".join(problems), agent=agent_id,
                              device=", ".join(map(str, missing or unknown)),
                              expected=expected, received=short_repr(action))
        parts = []
        for name, size in layout.items():
            part = to_real_array(action[name], agent=agent_id, device=name,
                                 expected=f"{size} real number(s)").reshape(-1)
            if part.size != size:
                raise ActionError(problem=f"has {part.size} values, expected {size}",
                                  agent=agent_id, device=name, expected=expected,
                                  received=short_repr(action[name]))
            parts.append(part)
        return np.concatenate(parts) if parts else np.zeros(0)

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
        self.execution.reset()
        self._reset_domain(seed, options)
        return self._all_obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first.")
        # validate everything first: a rejected step must change nothing
        valid = self.validate_actions(actions)
        # the step in order: this step's data -> actions -> simulation -> rewards/obs
        self._load_step_data()
        self._apply_actions(valid)
        extra = self._simulate() or {}
        self._t += 1
        rewards, safety = self._reward_and_safety()
        rewards = {a: float(rewards[a]) - self.penalty * float(safety[a]) for a in self.agents}
        if self.share_reward:
            # np.mean's own arithmetic (a sum reduction, then one division), without
            # its per-call overhead: this runs every step
            values = np.fromiter(rewards.values(), dtype=np.float64, count=len(rewards))
            mean = float(np.add.reduce(values) / len(rewards))
            rewards = {a: mean for a in rewards}
        obs = self._all_obs()
        truncated = self._t >= self.max_episode_steps or self._truncate_early()
        terminateds = {a: False for a in self.agents}
        truncateds = {a: truncated for a in self.agents}
        terminateds[ALL_AGENTS_KEY] = False
        truncateds[ALL_AGENTS_KEY] = truncated
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
        self.execution.close()

"""PettingZoo ``ParallelEnv`` wrappers that make HERON envs trainable by RLlib.

Pure numpy/gymnasium (no ray import) so they can be unit-tested and reused by any
trainer.

* :class:`PadToCommonSpaces`: a *shared* policy needs one observation space and
  one action space, but HERON agents usually own different devices, so their Box
  spaces differ in size and bounds. The wrapper pads observations with zeros to the
  largest size and appends a one-hot agent id (so one network can still behave
  differently per agent, as in MAPPO's parameter sharing). Actions live in a common
  ``Box(-1, 1, (max_action_dim,))``: the first ``n_i`` entries are rescaled to agent
  ``i``'s own bounds and the extra entries are **ignored** (they never reach the
  env, so they carry no reward signal; PPO just sees them as harmless noise).
* :class:`GlobalStateObservation`: for a centralised critic. Each agent's
  observation becomes ``{"obs": local_obs, "state": env.state()}``. Carrying the
  global state *inside the observation* means RLlib stores it in the episodes,
  batches it, and hands it to ``compute_values`` during GAE and the loss (including
  the bootstrap step RLlib appends at truncation) without any custom learner
  connector; the actor network simply never reads the ``"state"`` key.
* :func:`space_spec` / :func:`pad_observation` / :func:`unpad_action`: the padding
  as plain JSON-able data, so a saved checkpoint can be evaluated without the env.
* :class:`NormalizeObservation` / :func:`observation_stats`: domain observations mix
  scales (voltages 1.03 +- 0.01 pu, prices 45 +- 12 $/MWh, loadings in %); a tanh
  network sees the small but decisive voltage deviations only after centring and
  scaling. The statistics are *fixed* (measured once under random actions before
  training) and JSON-able, so a checkpoint carries them and evaluation applies the
  very same transform without RLlib's connector state.
* :class:`ScaleReward`: PPO's value targets are discounted returns; with rewards of
  O(10-100) per step they are O(1000) and the critic needs thousands of updates just
  to reach the right scale. Multiplying rewards by a constant fixes that without
  touching the env's own reward or the cost metrics in ``infos``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from heron.envs.keys import agent_entries


class _ParallelWrapper(ParallelEnv):
    """Forward everything to ``env``; strip RLlib-style ``"__all__"`` keys from step
    (:func:`heron.envs.keys.agent_entries`).

    ``ParallelPettingZooEnv`` recomputes ``"__all__"`` from the per-agent flags, and
    an ``"__all__"`` entry coming *in* would be counted as an agent by it.
    """

    def __init__(self, env: ParallelEnv) -> None:
        self.env = env
        self.metadata = getattr(env, "metadata", {})
        self.possible_agents = list(env.possible_agents)
        self.render_mode = getattr(env, "render_mode", None)

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    @property
    def unwrapped(self) -> ParallelEnv:
        return getattr(self.env, "unwrapped", self.env)

    def observation_space(self, agent: str):
        return self.env.observation_space(agent)

    def action_space(self, agent: str):
        return self.env.action_space(agent)

    def reset(self, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: dict[str, Any]):
        obs, rew, term, trunc, info = self.env.step(actions)
        return obs, rew, agent_entries(term), agent_entries(trunc), info

    def state(self) -> np.ndarray:
        return np.asarray(self.env.state(), dtype=np.float32)

    def render(self):
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def _box(space: spaces.Space, what: str, agent: str) -> spaces.Box:
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise TypeError(
            f"{what} space of agent {agent!r} must be a 1-D gymnasium Box to be padded, "
            f"got {space}."
        )
    return space


def space_spec(env: ParallelEnv, agent_id_onehot: bool = True) -> dict[str, Any]:
    """JSON-able description of how each agent is padded to the common spaces."""
    agents = list(env.possible_agents)
    obs_spaces = {a: _box(env.observation_space(a), "Observation", a) for a in agents}
    act_spaces = {a: _box(env.action_space(a), "Action", a) for a in agents}
    spec: dict[str, Any] = {
        "obs_dim": max(s.shape[0] for s in obs_spaces.values()),
        "act_dim": max(s.shape[0] for s in act_spaces.values()),
        "agent_id_onehot": bool(agent_id_onehot),
        "agents": {},
    }
    for i, a in enumerate(agents):
        spec["agents"][a] = {
            "index": i,
            "obs_dim": int(obs_spaces[a].shape[0]),
            "act_low": act_spaces[a].low.astype(float).tolist(),
            "act_high": act_spaces[a].high.astype(float).tolist(),
        }
    return spec


def padded_obs_dim(spec: dict[str, Any]) -> int:
    return int(spec["obs_dim"]) + (len(spec["agents"]) if spec["agent_id_onehot"] else 0)


def pad_observation(spec: dict[str, Any], agent: str, obs: Any) -> np.ndarray:
    """Local observation -> common padded observation (zeros, then one-hot id)."""
    info = spec["agents"][agent]
    obs = np.asarray(obs, dtype=np.float32).reshape(-1)
    if obs.shape[0] != info["obs_dim"]:
        raise ValueError(
            f"Agent {agent!r} observation has {obs.shape[0]} entries, expected "
            f"{info['obs_dim']}."
        )
    out = np.zeros(padded_obs_dim(spec), dtype=np.float32)
    out[: obs.shape[0]] = obs
    if spec["agent_id_onehot"]:
        out[int(spec["obs_dim"]) + int(info["index"])] = 1.0
    return out


def unpad_action(spec: dict[str, Any], agent: str, action: Any) -> np.ndarray:
    """Common action in ``[-1, 1]^max`` -> the agent's own action (extra dims dropped)."""
    info = spec["agents"][agent]
    low = np.asarray(info["act_low"], dtype=np.float64)
    high = np.asarray(info["act_high"], dtype=np.float64)
    a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[: low.shape[0]], -1.0, 1.0)
    finite = np.isfinite(low) & np.isfinite(high)
    # Bounded dims are rescaled; unbounded ones pass the [-1, 1] value through.
    out = np.where(finite, low + (a + 1.0) * 0.5 * np.where(finite, high - low, 0.0), a)
    return out.astype(np.float32)


class PadToCommonSpaces(_ParallelWrapper):
    """Give every agent the same Box observation and action space (see module doc)."""

    def __init__(self, env: ParallelEnv, agent_id_onehot: bool = True) -> None:
        super().__init__(env)
        self.spec = space_spec(env, agent_id_onehot=agent_id_onehot)
        self._obs_space = spaces.Box(-np.inf, np.inf, (padded_obs_dim(self.spec),), np.float32)
        self._act_space = spaces.Box(-1.0, 1.0, (int(self.spec["act_dim"]),), np.float32)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Box:
        return self._act_space

    def _pad(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        return {a: pad_observation(self.spec, a, o) for a, o in obs.items()}

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._pad(obs), infos

    def step(self, actions: dict[str, Any]):
        inner = {a: unpad_action(self.spec, a, act) for a, act in actions.items()}
        obs, rew, term, trunc, info = self.env.step(inner)
        return self._pad(obs), rew, agent_entries(term), agent_entries(trunc), info


class GlobalStateObservation(_ParallelWrapper):
    """Observations become ``{"obs": local, "state": global}`` (see module doc).

    ``agent_id_in_state`` appends a one-hot agent id to the state ("agent-specific
    global state", Yu et al. 2022): with individual rewards one shared critic must
    know *whose* value it predicts; with shared rewards it is unnecessary.
    """

    def __init__(self, env: ParallelEnv, agent_id_in_state: bool = False) -> None:
        super().__init__(env)
        if not callable(getattr(env, "state", None)):
            raise TypeError(
                "GlobalStateObservation needs env.state() returning the global state "
                "(HeronParallelEnv provides it)."
            )
        self.agent_id_in_state = bool(agent_id_in_state)
        try:
            state = np.asarray(env.state(), dtype=np.float32).reshape(-1)
        except Exception:  # some envs build their state on reset only
            env.reset()
            state = np.asarray(env.state(), dtype=np.float32).reshape(-1)
        self.state_dim = int(state.shape[0]) + (
            len(self.possible_agents) if self.agent_id_in_state else 0
        )
        state_space = spaces.Box(-np.inf, np.inf, (self.state_dim,), np.float32)
        self._obs_spaces = {
            a: spaces.Dict({"obs": env.observation_space(a), "state": state_space})
            for a in self.possible_agents
        }

    def observation_space(self, agent: str) -> spaces.Dict:
        return self._obs_spaces[agent]

    def _wrap(self, obs: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
        state = np.asarray(self.env.state(), dtype=np.float32).reshape(-1)
        out = {}
        for a, o in obs.items():
            s = state
            if self.agent_id_in_state:
                onehot = np.zeros(len(self.possible_agents), dtype=np.float32)
                onehot[self.possible_agents.index(a)] = 1.0
                s = np.concatenate([state, onehot])
            out[a] = {"obs": np.asarray(o, dtype=np.float32), "state": s.copy()}
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._wrap(obs), infos

    def step(self, actions: dict[str, Any]):
        obs, rew, term, trunc, info = self.env.step(actions)
        return self._wrap(obs), rew, agent_entries(term), agent_entries(trunc), info


def observation_stats(
    env: ParallelEnv, steps: int = 480, seed: int = 0, clip: float = 10.0
) -> dict[str, Any]:
    """Per-agent (and global-state) mean / std of observations under random actions.

    Random actions visit a wider range of states than an early policy, which is what
    a fixed normaliser needs. The std is floored at ``1e-3 * max(1, |mean|)`` so
    that a feature that happened to be constant (a device rating) is centred but not
    blown up; ``clip`` bounds what a rare state can feed the network.
    """
    agents = list(env.possible_agents)
    spaces_ = {a: env.action_space(a) for a in agents}
    for i, a in enumerate(agents):
        spaces_[a].seed(seed + i)
    try:
        env.reset(seed=seed)
        env.state()
        has_state = True
    except (NotImplementedError, AttributeError):  # PettingZoo's default state() raises
        has_state = False
    obs_rows: dict[str, list[np.ndarray]] = {a: [] for a in agents}
    state_rows: list[np.ndarray] = []

    def record(obs: dict[str, Any]) -> None:
        for a, o in obs.items():
            if a in obs_rows:
                obs_rows[a].append(np.asarray(o, dtype=np.float64).reshape(-1))
        if has_state:
            state_rows.append(np.asarray(env.state(), dtype=np.float64).reshape(-1))

    obs, _ = env.reset(seed=seed)
    record(obs)
    for _ in range(int(steps)):
        if not env.agents:
            obs, _ = env.reset()
        else:
            obs, *_ = env.step({a: spaces_[a].sample() for a in env.agents})
        record(obs)

    def summarise(rows: list[np.ndarray]) -> dict[str, list[float]]:
        x = np.stack(rows)
        mean = x.mean(axis=0)
        std = np.maximum(x.std(axis=0), 1e-3 * np.maximum(1.0, np.abs(mean)))
        return {"mean": mean.tolist(), "std": std.tolist()}

    return {
        "clip": float(clip),
        "agents": {a: summarise(obs_rows[a]) for a in agents if obs_rows[a]},
        "state": summarise(state_rows) if state_rows else None,
    }


def _apply_stats(part: dict[str, list[float]], clip: float, x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    z = (x - np.asarray(part["mean"])) / np.asarray(part["std"])
    return np.clip(z, -clip, clip).astype(np.float32)


def normalize_observation(stats: dict[str, Any], agent: str, obs: Any) -> np.ndarray:
    """Raw local observation -> the normalised one the network was trained on."""
    return _apply_stats(stats["agents"][agent], float(stats["clip"]), obs)


class NormalizeObservation(_ParallelWrapper):
    """Fixed per-agent observation (and global-state) normalisation (see module doc)."""

    def __init__(self, env: ParallelEnv, stats: dict[str, Any]) -> None:
        super().__init__(env)
        missing = set(self.possible_agents) - set(stats["agents"])
        if missing:
            raise ValueError(f"observation stats lack agent(s) {sorted(missing)}.")
        self.stats = stats

    def _norm(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        return {a: normalize_observation(self.stats, a, o) for a, o in obs.items()}

    def state(self) -> np.ndarray:
        state = self.env.state()
        if self.stats.get("state") is None:
            return np.asarray(state, dtype=np.float32)
        return _apply_stats(self.stats["state"], float(self.stats["clip"]), state)

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._norm(obs), infos

    def step(self, actions: dict[str, Any]):
        obs, rew, term, trunc, info = self.env.step(actions)
        return self._norm(obs), rew, agent_entries(term), agent_entries(trunc), info


class ScaleReward(_ParallelWrapper):
    """Multiply every agent's reward by ``scale`` (see module doc); infos untouched."""

    def __init__(self, env: ParallelEnv, scale: float) -> None:
        super().__init__(env)
        if not scale > 0:
            raise ValueError(f"reward scale must be > 0, got {scale}.")
        self.scale = float(scale)

    def step(self, actions: dict[str, Any]):
        obs, rew, term, trunc, info = self.env.step(actions)
        rew = {a: float(r) * self.scale for a, r in agent_entries(rew).items()}
        return obs, rew, agent_entries(term), agent_entries(trunc), info


def wrap_for_algo(
    env: ParallelEnv,
    algo: str,
    share_reward: bool = False,
    *,
    reward_scale: float = 1.0,
    obs_stats: dict[str, Any] | None = None,
) -> ParallelEnv:
    """Apply the wrappers an algorithm needs (without RLlib's own adapter).

    ``mappo``/``mappo-cc`` share one network, so spaces are padded; ``mappo-cc``
    additionally carries the global state for the critic; ``ippo`` keeps each
    agent's native spaces. ``obs_stats`` (from :func:`observation_stats`) and
    ``reward_scale`` are applied first, on the native spaces, so padding and one-hot
    ids stay exactly as they were.
    """
    if obs_stats is not None:
        env = NormalizeObservation(env, obs_stats)
    if reward_scale != 1.0:
        env = ScaleReward(env, reward_scale)
    if algo == "ippo":
        return _ParallelWrapper(env)
    padded = PadToCommonSpaces(env, agent_id_onehot=True)
    if algo == "mappo":
        return padded
    if algo == "mappo-cc":
        return GlobalStateObservation(padded, agent_id_in_state=not share_reward)
    raise ValueError(f"Unknown algo {algo!r}.")

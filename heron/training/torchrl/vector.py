"""The vectorized multi-agent interface the TorchRL trainer needs, and a generic fallback.

Any env offering these members trains through :mod:`heron.training.torchrl`
(``powergrid.envs.vector_env.VectorMultiAgentMicrogrids`` is the fast one)::

    num_envs, possible_agents
    reset(seed) -> ({agent: obs[N, obs_dim]}, infos)
    step({agent: act[N, act_dim]}) -> obs, rewards {agent: [N]}, terminateds, truncateds,
                                      infos {agent: {key: [N]}}
    state() -> [N, state_dim]
    single_observation_space(agent), single_action_space(agent)   # common (padded) Boxes

with Gymnasium's ``NEXT_STEP`` autoreset: the step after a copy's episode ended
resets it, ignores its action and marks it in ``infos[agent]["_reset"]``.

:class:`LoopVectorEnv` provides that interface over N copies of *any* HERON
``ParallelEnv`` stepped one after the other: correct, as slow as N single envs,
and the reason a new domain trains with TorchRL before anyone vectorizes it.

Pure numpy: importing this module does not need torchrl.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

#: Info keys copied into arrays: HERON's safety, the domains' cost, and ``potential``, a
#: training-only shaping potential an env may report (0 where it reports none; see
#: :func:`heron.training.torchrl.trainer.potential_shaping`).
INFO_KEYS = ("cost", "safety", "potential")


def _box(space: Any, what: str, agent: str) -> spaces.Box:
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise TypeError(f"{what} space of agent {agent!r} must be a 1-D Box, got {space}.")
    return space


class LoopVectorEnv:
    """N copies of a HERON ParallelEnv behind the vectorized interface (module doc).

    Observations are zero-padded to the largest agent's size and actions to the
    largest action size (the extra entries are dropped before ``env.step``), so one
    shared network can serve every agent. The agent set must be fixed
    (``possible_agents`` act at every step), as in every HERON env.
    """

    metadata = {"autoreset_mode": "NextStep"}

    def __init__(self, env_creator: Callable[[dict[str, Any]], Any],
                 env_config: dict[str, Any] | None, num_envs: int) -> None:
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}.")
        self.num_envs = int(num_envs)
        self.envs = [env_creator(dict(env_config or {})) for _ in range(self.num_envs)]
        first = self.envs[0]
        self.possible_agents = list(first.possible_agents)
        self._native_obs = {a: _box(first.observation_space(a), "Observation", a)
                            for a in self.possible_agents}
        self._native_act = {a: _box(first.action_space(a), "Action", a)
                            for a in self.possible_agents}
        obs_dim = max(s.shape[0] for s in self._native_obs.values())
        act_dim = max(s.shape[0] for s in self._native_act.values())
        self._obs_space = spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self._act_spaces = {}
        for a, s in self._native_act.items():
            low = np.full(act_dim, -1.0, np.float32)
            high = np.full(act_dim, 1.0, np.float32)
            low[: s.shape[0]], high[: s.shape[0]] = s.low, s.high
            self._act_spaces[a] = spaces.Box(low, high, dtype=np.float32)
        self._done = np.zeros(self.num_envs, dtype=bool)
        self._last_obs: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]

    # ------------------------------------------------------------------ spaces
    def single_observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def single_action_space(self, agent: str) -> spaces.Box:
        return self._act_spaces[agent]

    # ------------------------------------------------------------------ helpers
    def _stack_obs(self) -> dict[str, np.ndarray]:
        dim = self._obs_space.shape[0]
        out = {}
        for a in self.possible_agents:
            arr = np.zeros((self.num_envs, dim), dtype=np.float32)
            for i, obs in enumerate(self._last_obs):
                o = np.asarray(obs[a], dtype=np.float32).reshape(-1)
                arr[i, : o.shape[0]] = o
            out[a] = arr
        return out

    def state(self) -> np.ndarray:
        return np.stack([np.asarray(e.state(), dtype=np.float32).reshape(-1)
                         for e in self.envs])

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset every copy; ``seed`` seeds copy ``i`` with ``seed + i``."""
        for i, env in enumerate(self.envs):
            self._last_obs[i], _ = env.reset(seed=None if seed is None else int(seed) + i)
        self._done[:] = False
        return self._stack_obs(), {a: {} for a in self.possible_agents}

    def step(self, actions: dict[str, Any]):
        n, agents = self.num_envs, self.possible_agents
        rew = {a: np.zeros(n) for a in agents}
        trunc = {a: np.zeros(n, dtype=bool) for a in agents}
        term = {a: np.zeros(n, dtype=bool) for a in agents}
        info = {a: {k: np.zeros(n) for k in INFO_KEYS} for a in agents}
        resetting = self._done.copy()
        for i, env in enumerate(self.envs):
            if resetting[i]:
                self._last_obs[i], _ = env.reset()
                self._done[i] = False
                continue
            act = {a: np.asarray(actions[a][i], dtype=np.float32)[
                : self._native_act[a].shape[0]] for a in agents}
            obs, r, te, tr, inf = env.step(act)
            self._last_obs[i] = obs
            for a in agents:
                rew[a][i] = float(r[a])
                term[a][i], trunc[a][i] = bool(te[a]), bool(tr[a])
                for k in INFO_KEYS:
                    info[a][k][i] = float((inf.get(a) or {}).get(k, 0.0))
            self._done[i] = any(term[a][i] or trunc[a][i] for a in agents) or not env.agents
        for a in agents:
            info[a]["_reset"] = resetting.copy()
        return self._stack_obs(), rew, term, trunc, info

    def close(self) -> None:
        for env in self.envs:
            env.close()


def vector_observation_stats(venv: Any, steps: int = 48, seed: int = 0,
                             clip: float = 10.0) -> dict[str, Any]:
    """Per-agent and global-state mean / std under uniform random actions.

    The same rule and format as :func:`heron.training.wrappers.observation_stats`
    (std floored at ``1e-3 * max(1, |mean|)``, so padded zeros and constant ratings
    are centred, not blown up), measured on ``steps`` vector steps of all copies.
    """
    rng = np.random.default_rng(seed)
    agents = list(venv.possible_agents)
    obs, _ = venv.reset(seed=seed)
    rows = {a: [obs[a]] for a in agents}
    states = [venv.state()]
    for _ in range(int(steps)):
        acts = {}
        for a in agents:
            sp = venv.single_action_space(a)
            acts[a] = rng.uniform(-1.0, 1.0, (venv.num_envs, sp.shape[0])).astype(np.float32)
            finite = np.isfinite(sp.low) & np.isfinite(sp.high)
            acts[a] = np.where(finite, np.where(finite, sp.low, 0) + (acts[a] + 1) * 0.5
                               * np.where(finite, sp.high - sp.low, 0), acts[a])
        obs, *_ = venv.step(acts)
        for a in agents:
            rows[a].append(obs[a])
        states.append(venv.state())

    def summarise(x: list[np.ndarray]) -> dict[str, list[float]]:
        arr = np.concatenate(x).astype(np.float64)
        mean = arr.mean(axis=0)
        std = np.maximum(arr.std(axis=0), 1e-3 * np.maximum(1.0, np.abs(mean)))
        return {"mean": mean.tolist(), "std": std.tolist()}

    return {"clip": float(clip), "agents": {a: summarise(rows[a]) for a in agents},
            "state": summarise(states)}

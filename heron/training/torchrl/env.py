"""TorchRL ``EnvBase`` over any vectorized HERON env (see :mod:`.vector` for the interface).

Batch size ``[N]`` (the env's copies) and one agent group ``"agents"``, in TorchRL's
multi-agent layout::

    ("agents", "observation")  [N, A, obs_dim (+ A one-hot id)]   normalised, padded
    "state"                    [N, state_dim]                      normalised state()
    ("agents", "action")       [N, A, act_dim] in [-1, 1]          rescaled to the Box
    ("agents", "reward")       [N, A, 1]                           times reward_scale
    ("agents", "cost"|"safety") [N, A]                             env units, for metrics
    "autoreset"                [N]      the env reset this copy at this step
    done / terminated / truncated at the root [N, 1] and under "agents" [N, A, 1]

Why ``autoreset``: the vectorized envs reset copies themselves (Gymnasium
``NEXT_STEP``: the step after an episode's end returns the next first observation
and ignores the action). A partial ``reset`` (what collectors call for done copies)
therefore only hands back the current observations, and the following step is
flagged ``autoreset``: it is no transition of the MDP, and the trainer drops it from
the loss (its ``done`` at the step before already cut GAE's trace).

Observation normalisation and reward scaling happen here, so the policy and the
critic see exactly what a checkpoint's metadata describes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from heron.training.torchrl.vector import INFO_KEYS


def _normaliser(part: dict[str, list[float]] | None, dim: int) -> tuple[np.ndarray, np.ndarray]:
    if part is None:
        return np.zeros(dim, np.float32), np.ones(dim, np.float32)
    mean = np.asarray(part["mean"], np.float32)
    std = np.asarray(part["std"], np.float32)
    if mean.shape != (dim,):
        raise ValueError(f"observation stats have {mean.shape[0]} entries, the env {dim}.")
    return mean, std


class HeronVectorEnv(EnvBase):
    """Batched TorchRL env over a vectorized HERON env (module doc)."""

    def __init__(self, venv: Any, *, obs_stats: dict[str, Any] | None = None,
                 reward_scale: float = 1.0, agent_id: bool = True,
                 seed: int | None = None) -> None:
        n = int(venv.num_envs)
        super().__init__(batch_size=torch.Size([n]), device="cpu")
        self.venv = venv
        self.agent_names = list(venv.possible_agents)
        self.n_agents = a = len(self.agent_names)
        self.reward_scale = float(reward_scale)
        self.agent_id = bool(agent_id)
        self.obs_stats = obs_stats
        obs_spaces = [venv.single_observation_space(x) for x in self.agent_names]
        act_spaces = [venv.single_action_space(x) for x in self.agent_names]
        if len({s.shape for s in obs_spaces}) != 1 or len({s.shape for s in act_spaces}) != 1:
            raise ValueError("every agent needs the same (padded) observation and action "
                             "shape; pad the spaces (e.g. pad_spaces=True or LoopVectorEnv).")
        self.raw_obs_dim = int(obs_spaces[0].shape[0])
        self.act_dim = int(act_spaces[0].shape[0])
        self._act_low = np.stack([s.low for s in act_spaces]).astype(np.float64)
        self._act_high = np.stack([s.high for s in act_spaces]).astype(np.float64)
        self._act_finite = np.isfinite(self._act_low) & np.isfinite(self._act_high)
        stats = obs_stats or {}
        norms = [_normaliser((stats.get("agents") or {}).get(x), self.raw_obs_dim)
                 for x in self.agent_names]
        self._obs_mean = np.stack([m for m, _ in norms])
        self._obs_std = np.stack([s for _, s in norms])
        self._clip = float(stats.get("clip", np.inf)) if obs_stats else np.inf
        self._seed = seed
        self._first_reset = True
        venv.reset(seed=seed)  # some envs build their state on reset only
        state = np.asarray(venv.state(), dtype=np.float32)
        self.state_dim = int(state.shape[1])
        self._state_mean, self._state_std = _normaliser(stats.get("state"), self.state_dim)
        self.obs_dim = self.raw_obs_dim + (a if self.agent_id else 0)
        self._onehot = np.broadcast_to(np.eye(a, dtype=np.float32), (n, a, a))
        self._make_specs(n, a)
        self._current: TensorDict | None = None

    # ------------------------------------------------------------------ specs
    def _make_specs(self, n: int, a: int) -> None:
        agents_obs = Composite(
            observation=Unbounded(shape=(n, a, self.obs_dim)),
            **{k: Unbounded(shape=(n, a)) for k in INFO_KEYS},
            shape=(n, a))
        self.observation_spec = Composite(
            agents=agents_obs, state=Unbounded(shape=(n, self.state_dim)),
            autoreset=Categorical(2, shape=(n,), dtype=torch.bool), shape=(n,))
        self.action_spec = Composite(
            agents=Composite(action=Bounded(-1.0, 1.0, shape=(n, a, self.act_dim)),
                             shape=(n, a)), shape=(n,))
        self.reward_spec = Composite(
            agents=Composite(reward=Unbounded(shape=(n, a, 1)), shape=(n, a)), shape=(n,))

        def flags(shape: tuple[int, ...]) -> dict[str, Categorical]:
            return {k: Categorical(2, shape=shape, dtype=torch.bool)
                    for k in ("done", "terminated", "truncated")}

        self.done_spec = Composite(
            agents=Composite(**flags((n, a, 1)), shape=(n, a)), **flags((n, 1)), shape=(n,))

    # ------------------------------------------------------------------ conversion
    def _observation(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = np.stack([np.asarray(obs[name], np.float32) for name in self.agent_names], axis=1)
        x = np.clip((x - self._obs_mean) / self._obs_std, -self._clip, self._clip)
        if self.agent_id:
            x = np.concatenate([x, self._onehot], axis=-1)
        return x.astype(np.float32)

    def normalised_state(self) -> np.ndarray:
        s = np.asarray(self.venv.state(), np.float32)
        return np.clip((s - self._state_mean) / self._state_std,
                       -self._clip, self._clip).astype(np.float32)

    def _pack(self, obs: dict[str, np.ndarray], infos: dict[str, dict[str, Any]],
              autoreset: np.ndarray) -> TensorDict:
        n, a = self.batch_size[0], self.n_agents
        agents = {"observation": torch.from_numpy(self._observation(obs))}
        for k in INFO_KEYS:
            agents[k] = torch.as_tensor(np.stack(
                [np.asarray((infos.get(x) or {}).get(k, np.zeros(n)), np.float32)
                 for x in self.agent_names], axis=1))
        return TensorDict({
            "agents": TensorDict(agents, batch_size=(n, a)),
            "state": torch.from_numpy(self.normalised_state()),
            "autoreset": torch.as_tensor(autoreset, dtype=torch.bool),
        }, batch_size=(n,))

    def _flags(self, term: np.ndarray, trunc: np.ndarray) -> dict[str, Any]:
        """Per-agent [N, A, 1] and any-agent [N, 1] done flags."""
        done = term | trunc
        out: dict[str, Any] = {}
        per_agent = {}
        for name, arr in (("done", done), ("terminated", term), ("truncated", trunc)):
            per_agent[name] = torch.as_tensor(arr[..., None])
            out[name] = torch.as_tensor(arr.any(axis=1, keepdims=True))
        out["agents"] = per_agent
        return out

    def env_actions(self, action: torch.Tensor) -> dict[str, np.ndarray]:
        """[N, A, act_dim] in [-1, 1] -> ``{agent: [N, act_dim]}`` in each agent's Box."""
        x = np.clip(action.detach().cpu().numpy().astype(np.float64), -1.0, 1.0)
        scaled = self._act_low + (x + 1.0) * 0.5 * np.where(
            self._act_finite, self._act_high - self._act_low, 0.0)
        x = np.where(self._act_finite, scaled, x)
        return {name: x[:, i].astype(np.float32) for i, name in enumerate(self.agent_names)}

    # ------------------------------------------------------------------ EnvBase
    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDict:
        partial = tensordict is not None and "_reset" in tensordict.keys()
        if partial and not self._first_reset and self._current is not None:
            # The vector env resets those copies itself on the next step (module doc).
            td = self._current.clone()
        else:
            obs, infos = self.venv.reset(seed=self._seed if self._first_reset else None)
            self._first_reset = False
            td = self._pack(obs, infos, np.zeros(self.batch_size[0], dtype=bool))
        n, a = self.batch_size[0], self.n_agents
        zeros = np.zeros((n, a), dtype=bool)
        td.update(self._flags(zeros, zeros))
        self._current = td.exclude("done", "terminated", "truncated",
                                   ("agents", "done"), ("agents", "terminated"),
                                   ("agents", "truncated"))
        return td

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        actions = self.env_actions(tensordict.get(("agents", "action")))
        obs, rew, term, trunc, infos = self.venv.step(actions)
        first = self.agent_names[0]
        autoreset = np.asarray((infos.get(first) or {}).get(
            "_reset", np.zeros(self.batch_size[0], dtype=bool)), dtype=bool)
        td = self._pack(obs, infos, autoreset)
        self._current = td.clone()
        reward = np.stack([np.asarray(rew[x], np.float32) for x in self.agent_names], axis=1)
        td.set(("agents", "reward"), torch.from_numpy(reward * self.reward_scale)[..., None])
        term_a = np.stack([np.asarray(term[x], bool) for x in self.agent_names], axis=1)
        trunc_a = np.stack([np.asarray(trunc[x], bool) for x in self.agent_names], axis=1)
        # one copy's episode ends for all its agents (HERON envs have a fixed agent set)
        term_a = np.repeat(term_a.any(axis=1, keepdims=True), self.n_agents, axis=1)
        trunc_a = np.repeat(trunc_a.any(axis=1, keepdims=True), self.n_agents, axis=1) & ~term_a
        td.update(self._flags(term_a, trunc_a))
        return td

    def _set_seed(self, seed: int | None) -> None:
        """The next full reset seeds copy ``i`` with ``seed + i``."""
        self._seed = seed
        self._first_reset = True

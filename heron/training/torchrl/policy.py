"""A TorchRL checkpoint as plain :class:`heron.core.policies.Policy` objects.

Evaluation compares learnt policies with baselines through ``forward(obs) ->
action`` on the *single* env's native spaces; this does what the training adapter
did around the actor: zero-pad the observation, normalise it with the checkpoint's
statistics, append the one-hot agent id, and map the actor's [-1, 1] output back to
the agent's Box (dropping padded action entries). Only the actor is used
(decentralised execution), and loading reads tensors and JSON only.

    policies = load_torchrl_policies("runs/mappo-cc-.../checkpoints/final", env=env)
    action = policies["MG1"](obs["MG1"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict

from heron.core.policies import Policy
from heron.training.config import TrainConfig
from heron.training.torchrl.models import ACTION_KEY, OBS_KEY, make_actor
from heron.training.torchrl.trainer import (
    ACTOR_WEIGHTS_FILE,
    METADATA_FILE,
    load_checkpoint,
    read_metadata,
    save_actor_weights,
)


class TorchRLPolicy(Policy):
    """One agent's action from a shared TorchRL actor (see module doc)."""

    def __init__(self, actor: Any, meta: dict[str, Any], agent: str,
                 action_dim: int | None = None, deterministic: bool = True) -> None:
        self.actor, self.meta, self.agent = actor, meta, agent
        self.index = list(meta["agents"]).index(agent)
        self.n_agents = len(meta["agents"])
        self.obs_dim = int(meta["obs_dim"])
        self.action_dim = int(action_dim or meta["act_dim"])
        self.deterministic = bool(deterministic)
        stats = (meta.get("obs_norm") or {}).get("agents", {}).get(agent)
        self.mean = np.asarray(stats["mean"], np.float32) if stats else np.zeros(self.obs_dim)
        self.std = np.asarray(stats["std"], np.float32) if stats else np.ones(self.obs_dim)
        self.clip = float(meta["obs_norm"]["clip"]) if stats else np.inf
        self.low = np.asarray(meta["act_low"][self.index], np.float64)
        self.high = np.asarray(meta["act_high"][self.index], np.float64)

    def _observation(self, observation: Any) -> torch.Tensor:
        obs = np.asarray(observation, np.float32).reshape(-1)
        if obs.shape[0] > self.obs_dim:
            raise ValueError(f"agent {self.agent!r}: observation has {obs.shape[0]} entries, "
                             f"the checkpoint at most {self.obs_dim}.")
        x = np.zeros(self.obs_dim, np.float32)
        x[: obs.shape[0]] = obs
        x = np.clip((x - self.mean) / self.std, -self.clip, self.clip)
        if self.meta.get("agent_id_onehot"):
            x = np.concatenate([x, np.eye(self.n_agents, dtype=np.float32)[self.index]])
        # the actor is decentralised: the other agents' rows do not affect this one's
        rows = torch.zeros(1, self.n_agents, x.shape[0])
        rows[0, self.index] = torch.from_numpy(x.astype(np.float32))
        return rows

    def forward(self, observation: Any) -> np.ndarray:
        from tensordict.nn import InteractionType, set_interaction_type

        td = TensorDict({OBS_KEY: self._observation(observation)}, batch_size=[1])
        mode = InteractionType.DETERMINISTIC if self.deterministic else InteractionType.RANDOM
        with torch.no_grad(), set_interaction_type(mode):
            a = self.actor(td).get(ACTION_KEY)[0, self.index].numpy().astype(np.float64)
        a = np.clip(a, -1.0, 1.0)
        finite = np.isfinite(self.low) & np.isfinite(self.high)
        out = np.where(finite, self.low + (a + 1.0) * 0.5 * np.where(
            finite, self.high - self.low, 0.0), a)
        return out[: self.action_dim].astype(np.float32)


def load_torchrl_policies(checkpoint: str | Path, env: Any = None,
                          deterministic: bool = True) -> dict[str, TorchRLPolicy]:
    """``{agent: TorchRLPolicy}``; with ``env``, actions are cut to its native sizes.

    Reads ``actor.safetensors`` (no pickle at all) when the checkpoint has it, else
    the actor from ``model.pt`` (``torch.load(weights_only=True)``)."""
    actor_state, meta = load_actor_state(checkpoint)
    cfg = TrainConfig.from_dict(meta["train_config"])
    n_agents = len(meta["agents"])
    obs_dim = int(meta["obs_dim"]) + (n_agents if meta.get("agent_id_onehot") else 0)
    actor = make_actor(cfg, obs_dim, int(meta["act_dim"]), n_agents)
    actor.load_state_dict(actor_state)
    actor.eval()
    out = {}
    for agent in meta["agents"]:
        dim = env.action_space(agent).shape[0] if env is not None else None
        out[agent] = TorchRLPolicy(actor, meta, agent, dim, deterministic)
    return out


def load_actor_state(checkpoint: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(actor state dict, metadata)`` of a TorchRL checkpoint or bundle."""
    path = Path(checkpoint)
    if (path / ACTOR_WEIGHTS_FILE).exists():
        from safetensors.torch import load_file

        meta = read_metadata(path)
        return load_file(str(path / ACTOR_WEIGHTS_FILE)), meta
    state, meta = load_checkpoint(path)
    return state["actor"], meta


def export_actor(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """The inference part of a TorchRL checkpoint: ``heron_torchrl.json`` and
    ``actor.safetensors``; critic and optimiser are dropped (it can be evaluated,
    not resumed), and nothing in it is a pickle."""
    state, meta = load_actor_state(checkpoint)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_actor_weights(state, out / ACTOR_WEIGHTS_FILE)
    (out / METADATA_FILE).write_text((Path(checkpoint) / METADATA_FILE).read_text())
    return out

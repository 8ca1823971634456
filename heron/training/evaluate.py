"""Trained checkpoints as plain :class:`heron.core.policies.Policy` objects.

Evaluation code compares RL against rule-based and optimisation baselines through
one interface (``forward(obs) -> action`` in the agent's *native* spaces), so a
:class:`CheckpointPolicy` hides everything RLlib-specific: which module an agent
maps to, observation normalisation (``normalize_obs``), padding / one-hot ids, the
[-1, 1] action normalisation and the dropping of padded action dims. It needs only
the checkpoint folder: no env, no Ray cluster, no Algorithm.

Two backends share that processing: the pickle-free actor files
(:mod:`heron.training.safe_policy`, plain torch, no Ray) and RLlib's own module
files (:class:`RLlibPolicy`), which RLlib unpickles. :func:`load_policies` prefers
the first and warns when it has to fall back to the second.

For ``mappo-cc`` only the actor is used: decentralised execution needs the
agent's local observation, never the global state.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from heron.core.policies import Policy
from heron.envs.keys import agent_entries
from heron.training.wrappers import normalize_observation, pad_observation, unpad_action

MODULES_SUBDIR = Path("learner_group") / "learner" / "rl_module"

_log = logging.getLogger(__name__)


class PickleRefusedError(RuntimeError):
    """Loading would unpickle files (``allow_pickle=False`` forbids it)."""


def load_metadata(checkpoint: str | Path) -> dict[str, Any]:
    from heron.training.rllib import METADATA_FILE

    path = Path(checkpoint) / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: {str(checkpoint)!r} is not a checkpoint written by "
            "heron.training (save_checkpoint / train)."
        )
    return json.loads(path.read_text())


def load_module(checkpoint: str | Path, module_id: str) -> Any:
    """The trained RLModule ``module_id`` from an Algorithm checkpoint (CPU, eval mode).

    This unpickles the checkpoint's ``class_and_ctor_args.pkl`` and
    ``module_state.pkl`` (RLlib's format): only for checkpoints you trust.
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = Path(checkpoint).resolve() / MODULES_SUBDIR / module_id
    if not path.exists():
        raise FileNotFoundError(f"No RLModule {module_id!r} in checkpoint: {path} is missing.")
    # RLlib warns that its own checkpoint format uses a deprecated constructor; that is
    # not actionable for users loading a policy, so keep it out of their output
    rllib_log = logging.getLogger("ray._common.deprecation")
    level = rllib_log.level
    rllib_log.setLevel(logging.ERROR)
    try:
        module = RLModule.from_checkpoint(str(path))
    finally:
        rllib_log.setLevel(level)
    module.eval()
    return module


def _to_env_action(a: np.ndarray, low: np.ndarray, high: np.ndarray, normalize: bool,
                   clip: bool) -> np.ndarray:
    """Mirror RLlib's ``NormalizeAndClipActions`` module-to-env connector."""
    bounded = np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    if normalize and bounded:
        return np.clip(low + (a + 1.0) * (high - low) / 2.0, low, high)
    if clip:
        return np.clip(a, low, high)
    return a


class CheckpointPolicy(Policy):
    """What every trained policy of a HERON checkpoint does around its network.

    ``forward`` takes the agent's raw env observation and returns an action in the
    agent's own action space, ready for ``env.step``. Subclasses only supply the
    network (:meth:`_network_inputs` -> Gaussian inputs ``[mean, log_std]``) and
    the sampling, so the RLlib-backed and the pickle-free policy
    (:mod:`heron.training.safe_policy`) cannot drift apart in pre/post-processing.
    """

    def __init__(self, checkpoint: str | Path, agent_id: str, deterministic: bool,
                 metadata: dict[str, Any]) -> None:
        self.checkpoint = Path(checkpoint)
        self.agent_id = agent_id
        self.deterministic = deterministic
        self.metadata = metadata
        mapping = self.metadata["agent_to_module"]
        if agent_id not in mapping:
            raise KeyError(f"Agent {agent_id!r} not in checkpoint; agents: {sorted(mapping)}.")
        self.module_id = mapping[agent_id]
        space = self.metadata["module_action_spaces"][self.module_id]
        self._low = np.asarray(space["low"], dtype=np.float64)
        self._high = np.asarray(space["high"], dtype=np.float64)
        self._pad = self.metadata.get("pad_spec")
        self._obs_norm = self.metadata.get("obs_norm")

    def _native_obs_dim(self) -> int | None:
        if self._pad:
            return int(self._pad["agents"][self.agent_id]["obs_dim"])
        if self._obs_norm:
            return len(self._obs_norm["agents"][self.agent_id]["mean"])
        return None

    def module_input(self, observation: Any) -> np.ndarray:
        """The float32 vector the network sees for one local observation.

        The observation may be the agent's own or an env-padded one (``pad_spaces``:
        own entries first, then zeros); the padding is dropped here so a checkpoint
        acts the same whichever way the env was configured.
        """
        native = self._native_obs_dim()
        observation = np.asarray(observation, dtype=np.float32).reshape(-1)
        if native is not None and observation.shape[0] > native:
            observation = observation[:native]
        if self._obs_norm:
            observation = normalize_observation(self._obs_norm, self.agent_id, observation)
        if self._pad:
            return pad_observation(self._pad, self.agent_id, observation)
        return np.asarray(observation, dtype=np.float32).reshape(-1)

    def dist_inputs(self, observation: Any) -> Any:
        """Action-distribution inputs (a ``[1, 2 * act_dim]`` torch tensor)."""
        import torch

        x = torch.from_numpy(self.module_input(observation))[None]
        with torch.no_grad():
            return self._network_inputs(x)

    def _network_inputs(self, x: Any) -> Any:
        raise NotImplementedError

    def _sample(self, inputs: Any) -> Any:
        raise NotImplementedError

    def forward(self, observation: Any) -> np.ndarray:
        import torch

        inputs = self.dist_inputs(observation)
        with torch.no_grad():
            a = self._sample(inputs)[0].cpu().numpy().astype(np.float64)
        a = _to_env_action(a, self._low, self._high, self.metadata.get("normalize_actions", True),
                           self.metadata.get("clip_actions", False))
        if self._pad:
            return unpad_action(self._pad, self.agent_id, a)
        return a.astype(np.float32)


class RLlibPolicy(CheckpointPolicy):
    """Deterministic (or sampling) policy of one agent from RLlib's module files.

    Loading those files unpickles them (see :func:`load_module`); prefer
    :func:`load_policies`, which uses the pickle-free format when it is there.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        agent_id: str,
        deterministic: bool = True,
        *,
        _module: Any = None,
        _metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(checkpoint, agent_id, deterministic,
                         _metadata or load_metadata(checkpoint))
        self.module = _module if _module is not None else load_module(checkpoint, self.module_id)

    def _network_inputs(self, x: Any) -> Any:
        return module_dist_inputs(self.module, x, bool(self.metadata.get("centralized_critic")))

    def _sample(self, inputs: Any) -> Any:
        dist = self.module.get_inference_action_dist_cls().from_logits(inputs)
        if self.deterministic:
            dist = dist.to_deterministic()
        return dist.sample()


def module_dist_inputs(module: Any, x: Any, centralized_critic: bool) -> Any:
    """RLlib's own inference path of a HERON RLModule on a batch of module inputs;
    for ``mappo-cc`` only the actor (decentralised execution)."""
    from ray.rllib.core.columns import Columns

    if centralized_critic:
        return module.actor_dist_inputs(x)
    return module.forward_inference({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS]


#: marks a checkpoint written by heron.training.torchrl (kept here: no torch import)
TORCHRL_METADATA_FILE = "heron_torchrl.json"


def load_policies(checkpoint: str | Path, deterministic: bool = True, *,
                  allow_pickle: bool = True) -> dict[str, CheckpointPolicy]:
    """One policy per agent from a heron.training checkpoint.

    A TorchRL checkpoint (``heron_torchrl.json``) loads its tensors with
    ``weights_only=True``. An RLlib one uses the pickle-free files
    (:mod:`heron.training.safe_policy`) when the checkpoint has them: JSON + safetensors, nothing that can run code. Otherwise it
    falls back to RLlib's module files, which **unpickles** them (Ray's
    ``RLModule.from_checkpoint``): a checkpoint from someone else can then run code
    on this machine. That fallback logs a warning; ``allow_pickle=False`` refuses it
    (:class:`PickleRefusedError`). A shared module is loaded once.
    """
    from heron.training.safe_policy import has_safe_policy, load_safe_policies

    if (Path(checkpoint) / TORCHRL_METADATA_FILE).exists():
        # a TorchRL checkpoint: state dicts (torch.load weights_only=True) + JSON
        from heron.training.torchrl.policy import load_torchrl_policies

        return load_torchrl_policies(checkpoint, deterministic=deterministic)
    if has_safe_policy(checkpoint):
        return load_safe_policies(checkpoint, deterministic)
    if not allow_pickle:
        raise PickleRefusedError(
            f"{checkpoint} has no pickle-free policy files (heron_actor.json, "
            "heron_actor.safetensors); loading its RLlib module files would unpickle them, "
            "which can run code. Convert a checkpoint you trust once with "
            "heron.training.safe_policy.export_safe_policy(checkpoint, out_dir).")
    _log.warning(
        "%s has no pickle-free policy files: loading RLlib's module files, which UNPICKLES "
        "them (a checkpoint can run code when loaded; only load checkpoints you trust). "
        "Convert it once with heron.training.safe_policy.export_safe_policy.", checkpoint)
    meta = load_metadata(checkpoint)
    modules: dict[str, Any] = {}
    out: dict[str, CheckpointPolicy] = {}
    for agent, mid in meta["agent_to_module"].items():
        if mid not in modules:
            modules[mid] = load_module(checkpoint, mid)
        out[agent] = RLlibPolicy(checkpoint, agent, deterministic,
                                 _module=modules[mid], _metadata=meta)
    return out


def rollout(env: Any, policies: dict[str, Policy], seed: int | None = None) -> dict[str, float]:
    """One episode of ``env`` (unwrapped HERON ParallelEnv) under ``policies``.

    Returns total reward, cost, safety and the violation rate, the same quantities
    the training callback logs, so RL and baselines are scored identically.
    """
    obs, _ = env.reset(seed=seed)
    for p in policies.values():
        p.reset(seed)
    totals = {"return": 0.0, "cost": 0.0, "safety": 0.0, "violations": 0, "agent_steps": 0,
              "steps": 0}
    while env.agents:
        actions = {a: policies[a].forward(obs[a]) for a in env.agents}
        obs, rew, _, _, infos = env.step(actions)
        totals["steps"] += 1
        totals["return"] += float(sum(agent_entries(rew).values()))
        for info in infos.values():
            totals["cost"] += float(info.get("cost", 0.0))
            s = float(info.get("safety", 0.0))
            totals["safety"] += s
            totals["violations"] += int(s > 0)
            totals["agent_steps"] += 1
    n = max(1, totals.pop("agent_steps"))
    totals["violation_rate"] = totals.pop("violations") / n
    return totals

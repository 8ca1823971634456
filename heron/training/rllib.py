"""Build an RLlib PPO ``Algorithm`` (new API stack) for a HERON ParallelEnv.

The three algorithms differ only in wrapping and module layout:

============  ===========================  ==========================================
algo          modules                      env as RLlib sees it
============  ===========================  ==========================================
``mappo``     ``shared_policy`` (default   padded obs + one-hot id, common [-1, 1]
              PPO module, own critic)      action Box (:class:`PadToCommonSpaces`)
``ippo``      one default PPO module per   native per-agent spaces
              agent (module id = agent id)
``mappo-cc``  ``shared_policy`` =          padded, then ``{"obs": .., "state": ..}``
              :class:`CentralizedCritic`   (:class:`GlobalStateObservation`)
              ``TorchModule``
============  ===========================  ==========================================

``env_creator(env_config)`` must return the *unwrapped* PettingZoo ParallelEnv
(e.g. a :class:`heron.envs.HeronParallelEnv`); this module adds the wrappers and
RLlib's :class:`ParallelPettingZooEnv` adapter itself, so the same creator serves
training, evaluation and tests.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from heron.training.config import TrainConfig
from heron.training.wrappers import wrap_for_algo

EnvCreator = Callable[[dict[str, Any]], Any]

SHARED_POLICY_ID = "shared_policy"
METADATA_FILE = "heron_policy.json"
#: Random-action env steps used to measure observation statistics (a few seconds for
#: a power-flow env; 20 days of hourly data for the power case study).
OBS_STATS_STEPS = 480

_log = logging.getLogger(__name__)


def merged_env_config(env_config: dict[str, Any] | None, cfg: TrainConfig) -> dict[str, Any]:
    """The env_config the env really gets: the TrainConfig's env-facing fields win."""
    out = dict(env_config or {})
    out["share_reward"] = bool(cfg.share_reward)
    if cfg.protocol is not None:
        out["protocol"] = cfg.protocol
    return out


def make_rllib_env_creator(
    env_creator: EnvCreator, cfg: TrainConfig, obs_stats: dict[str, Any] | None = None
) -> Callable[[Any], Any]:
    """Creator for ``register_env``: user env -> HERON wrappers -> ParallelPettingZooEnv.

    ``obs_stats`` is captured by value, so every env runner (local or remote)
    normalises with the same numbers the checkpoint will carry.
    """
    algo, share_reward, reward_scale = cfg.algo, cfg.share_reward, cfg.reward_scale

    def _create(env_config: Any) -> Any:
        from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

        env = env_creator(dict(env_config or {}))
        return ParallelPettingZooEnv(wrap_for_algo(
            env, algo, share_reward=share_reward, reward_scale=reward_scale,
            obs_stats=obs_stats))

    return _create


def _resume_obs_stats(cfg: TrainConfig) -> dict[str, Any] | None:
    """The normaliser of the checkpoint being resumed: a resumed policy must keep
    seeing observations exactly as it was trained on them."""
    if not cfg.resume:
        return None
    path = Path(cfg.resume) / METADATA_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("obs_norm")


def compute_obs_stats(
    env_creator: EnvCreator, env_config: dict[str, Any], cfg: TrainConfig
) -> dict[str, Any] | None:
    """Observation statistics for ``cfg.normalize_obs`` (None when it is off)."""
    if not cfg.normalize_obs:
        return None
    stats = _resume_obs_stats(cfg)
    if stats is not None:
        return stats
    from heron.training.wrappers import observation_stats

    env = env_creator(dict(env_config))
    try:
        return observation_stats(env, steps=OBS_STATS_STEPS, seed=cfg.seed)
    finally:
        env.close()


def shared_policy_mapping_fn(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    """Every agent acts with the one shared module (MAPPO parameter sharing)."""
    return SHARED_POLICY_ID


def independent_policy_mapping_fn(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    """IPPO: each agent owns the module named after it."""
    return str(agent_id)


def policy_layout(cfg: TrainConfig, agents: list[str]) -> tuple[dict[str, str], Callable]:
    """``({agent_id: module_id}, policy_mapping_fn)`` for ``cfg.algo``."""
    if cfg.shared_policy:
        return {a: SHARED_POLICY_ID for a in agents}, shared_policy_mapping_fn
    return {a: str(a) for a in agents}, independent_policy_mapping_fn


def _space_to_json(space: Any) -> dict[str, Any]:
    return {
        "low": np.asarray(space.low, dtype=float).tolist(),
        "high": np.asarray(space.high, dtype=float).tolist(),
    }


def build_config(
    env_creator: EnvCreator,
    env_config: dict[str, Any] | None,
    cfg: TrainConfig,
    env_name: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Return ``(PPOConfig, metadata)`` without starting anything expensive.

    ``metadata`` (JSON-able) records how agents map to modules and how observations
    and actions are padded, so :mod:`heron.training.evaluate` can run a checkpoint
    without rebuilding the env or the Algorithm.
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from heron.training.callbacks import SafetyMetricsCallback

    env_config = merged_env_config(env_config, cfg)
    obs_stats = compute_obs_stats(env_creator, env_config, cfg)
    rllib_creator = make_rllib_env_creator(env_creator, cfg, obs_stats)
    env_name = env_name or f"heron_{cfg.algo.replace('-', '_')}_env"
    register_env(env_name, rllib_creator)

    # One probe env: spaces for the module specs and the padding metadata.
    probe = rllib_creator(env_config)
    wrapped = probe.par_env
    agents = list(wrapped.possible_agents)
    agent_to_module, mapping_fn = policy_layout(cfg, agents)
    modules = sorted(set(agent_to_module.values()))

    model_config: dict[str, Any] = {
        "fcnet_hiddens": list(cfg.hidden_sizes),
        "fcnet_activation": "tanh",
        "vf_share_layers": False,
    }
    specs = {}
    for mid in modules:
        agent = next(a for a in agents if agent_to_module[a] == mid)
        kwargs: dict[str, Any] = {
            "observation_space": wrapped.observation_space(agent),
            "action_space": wrapped.action_space(agent),
            "model_config": dict(model_config),
        }
        if cfg.centralized_critic:
            from heron.training.modules import CentralizedCriticTorchModule

            kwargs["module_class"] = CentralizedCriticTorchModule
        specs[mid] = RLModuleSpec(**kwargs)

    use_gpu = False
    if not cfg.no_cuda:
        import torch

        use_gpu = bool(torch.cuda.is_available())

    fragment = cfg.rollout_fragment_length or "auto"
    config = (
        PPOConfig()
        .environment(env=env_name, env_config=env_config)
        .framework("torch")
        .multi_agent(policies=set(modules), policy_mapping_fn=mapping_fn)
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .env_runners(
            num_env_runners=cfg.num_workers,
            num_envs_per_env_runner=cfg.num_envs_per_worker,
            num_cpus_per_env_runner=1,
            rollout_fragment_length=fragment,
            sample_timeout_s=cfg.sample_timeout_s,
        )
        .learners(num_learners=0, num_gpus_per_learner=1 if use_gpu else 0)
        .training(
            lr=cfg.lr,
            gamma=cfg.gamma,
            lambda_=cfg.lambda_,
            train_batch_size_per_learner=cfg.train_batch_size,
            minibatch_size=cfg.minibatch_size,
            num_epochs=cfg.num_epochs,
            entropy_coeff=cfg.entropy_coeff,
            clip_param=cfg.clip_param,
            vf_clip_param=cfg.vf_clip_param,
        )
        .callbacks(SafetyMetricsCallback)
        .debugging(seed=cfg.seed, log_level="WARN")
    )

    metadata: dict[str, Any] = {
        "algo": cfg.algo,
        "agents": agents,
        "agent_to_module": agent_to_module,
        "centralized_critic": cfg.centralized_critic,
        "normalize_actions": bool(config.normalize_actions),
        "clip_actions": bool(config.clip_actions),
        "pad_spec": getattr(_find_pad(wrapped), "spec", None),
        "module_action_spaces": {
            mid: _space_to_json(specs[mid].action_space) for mid in modules
        },
        "reward_scale": cfg.reward_scale,
        "obs_norm": obs_stats,
    }
    probe.close()
    return config, metadata


def _find_pad(env: Any) -> Any:
    """The :class:`PadToCommonSpaces` layer inside a wrapper chain, if any."""
    from heron.training.wrappers import PadToCommonSpaces

    while env is not None:
        if isinstance(env, PadToCommonSpaces):
            return env
        env = getattr(env, "env", None)
    return None


def ensure_ray(cfg: TrainConfig) -> bool:
    """Start (or connect to) Ray; return True when this call started it.

    Local runs get ``num_cpus <= 2`` and no dashboard: HERON's CI machines are
    small, and the dashboard alone costs seconds and a port.
    """
    import ray

    if ray.is_initialized():
        return False
    if cfg.ray_address:
        # `ray start` (Ray >= 2.5x) enables token authentication and writes the token
        # to ~/.ray/auth_token, but a driver given an explicit address only sends it
        # with RAY_AUTH_MODE=token; otherwise it fails with "InvalidAuthToken". Opt in
        # when a token exists (a token-mode driver also connects to clusters without
        # auth). Ray's own helper also refreshes its already-loaded C++ config.
        if "RAY_AUTH_MODE" not in os.environ:
            try:
                from ray._private.authentication.authentication_token_setup import (
                    maybe_enable_token_auth_if_token_available,
                )
            except ImportError:  # Ray without token auth
                pass
            else:
                maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
        ray.init(address=cfg.ray_address, log_to_driver=False)
    else:
        # address="local": always a fresh private Ray. A bare ray.init() would join
        # whatever cluster /tmp/ray/ray_current_cluster names (someone else's, or a
        # stale one) and then reject num_cpus.
        ray.init(
            address="local",
            num_cpus=max(1, cfg.num_workers, min(2, os.cpu_count() or 1)),
            include_dashboard=False,
            log_to_driver=False,
        )
    return True


def build_algorithm(
    env_creator: EnvCreator, env_config: dict[str, Any] | None, cfg: TrainConfig
) -> Any:
    """Build the PPO Algorithm; ``algo.heron_metadata`` holds the policy metadata."""
    ensure_ray(cfg)
    if cfg.torch_threads > 0:
        import torch

        torch.set_num_threads(cfg.torch_threads)
    config, metadata = build_config(env_creator, env_config, cfg)
    algo = config.build_algo()
    algo.heron_metadata = metadata
    return algo


def save_checkpoint(algo: Any, path: str | Path) -> Path:
    """``algo.save_to_path`` plus HERON's policy metadata and pickle-free actor.

    RLlib's files (pickles) are what ``--resume`` restores; the safe files
    (:mod:`heron.training.safe_policy`) are what evaluation loads, so acting with a
    checkpoint never needs to unpickle it. An actor the safe format cannot describe
    only costs a logged warning: evaluation then falls back to RLlib's files.
    """
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    algo.save_to_path(str(path))
    metadata = getattr(algo, "heron_metadata", None)
    if metadata is not None:
        (path / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
        _save_safe_policy(algo, metadata, path)
    return path


def _learner_modules(algo: Any, metadata: dict[str, Any], path: Path) -> dict[str, Any]:
    """The trained modules: the local learner's (HERON trains with
    ``num_learners=0``), else read back from the checkpoint this process just wrote."""
    mids = sorted(set(metadata["agent_to_module"].values()))
    learner = getattr(getattr(algo, "learner_group", None), "_learner", None)
    if learner is not None:
        return {m: learner.module[m] for m in mids}
    from heron.training.evaluate import load_module

    return {m: load_module(path, m) for m in mids}


def _save_safe_policy(algo: Any, metadata: dict[str, Any], path: Path) -> None:
    from heron.training.safe_policy import (
        ACTOR_FILE,
        WEIGHTS_FILE,
        SafeExportError,
        write_safe_policy,
    )

    try:
        write_safe_policy(_learner_modules(algo, metadata, path), metadata, path)
    except SafeExportError as exc:
        for name in (ACTOR_FILE, WEIGHTS_FILE):
            (path / name).unlink(missing_ok=True)
        _log.warning("no pickle-free policy written to %s (%s); evaluating it will unpickle "
                     "RLlib's module files.", path, exc)

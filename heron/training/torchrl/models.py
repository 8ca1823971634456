"""Actor and critic of each algorithm, from TorchRL's multi-agent modules.

=============  ==================================  ======================================
algo           actor (decentralised: local obs)    critic
=============  ==================================  ======================================
``mappo``      one MLP shared by every agent       shared MLP over the local observation
``mappo-cc``,  one MLP shared by every agent       one MLP over ``state()`` with one value
``mappo-lag``                                      output per agent
``ippo``       one MLP per agent                   one MLP per agent, local observation
=============  ==================================  ======================================

``MultiAgentMLP(centralized=False)`` runs one network per agent on that agent's
slice only, so an actor never sees another agent's observation (a test checks it).

Why the centralised critic is one trunk with a value head per agent rather than one
shared MLP run per agent on ``[state, one-hot id]``: every agent's copy of the state
is the same, so the old layout computed the same state features once per agent. One
trunk computes them once (a third of the critic's work on three agents, about a fifth
of each PPO gradient step), and the per-agent heads do what the one-hot id did: tell
apart whose return is predicted when rewards are individual.
"""

from __future__ import annotations

import torch
from tensordict.nn import (
    AddStateIndependentNormalScale,
    NormalParamExtractor,
    TensorDictModule,
)
from torch import nn
from torchrl.modules import MLP, MultiAgentMLP, ProbabilisticActor, TanhNormal

from heron.training.config import TrainConfig

OBS_KEY = ("agents", "observation")
ACTION_KEY = ("agents", "action")
LOG_PROB_KEY = ("agents", "action_log_prob")
VALUE_KEY = ("agents", "state_value")


class PerAgentValues(nn.Module):
    """``state [.., S]`` -> ``[.., A, 1]``: one MLP over the global state, one value
    output per agent (module docstring)."""

    def __init__(self, state_dim: int, n_agents: int, cfg: TrainConfig) -> None:
        super().__init__()
        self.mlp = MLP(in_features=state_dim, out_features=n_agents,
                       depth=len(cfg.hidden_sizes), num_cells=list(cfg.hidden_sizes),
                       activation_class=nn.Tanh)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.mlp(state).unsqueeze(-1)


def _mlp(n_in: int, n_out: int, n_agents: int, shared: bool, cfg: TrainConfig) -> MultiAgentMLP:
    return MultiAgentMLP(
        n_agent_inputs=n_in, n_agent_outputs=n_out, n_agents=n_agents, centralized=False,
        share_params=shared, depth=len(cfg.hidden_sizes), num_cells=list(cfg.hidden_sizes),
        activation_class=nn.Tanh)


def make_actor(cfg: TrainConfig, obs_dim: int, act_dim: int, n_agents: int) -> ProbabilisticActor:
    """Stochastic TanhNormal actor on ``[-1, 1]^act_dim`` (the env rescales to the Box;
    see ``action_margin`` below).

    With ``cfg.extra["log_std_init"]`` the exploration scale is one learnt parameter per
    action entry (``exp(log_std)``, CleanRL's continuous PPO), started there; otherwise
    the network predicts it per state (biased softplus, scale ~1 at the start).
    """
    log_std_init = cfg.extra.get("log_std_init")
    # A TanhNormal reaches +-1 only as its mean goes to infinity, so a policy that
    # should sit at a limit (a generator at p_max) stays a little short of it. With
    # ``action_margin`` m the squashed range is [-1-m, 1+m] and the env clips to the
    # Box: the limit is reached at a finite mean, and PPO's log-probabilities stay
    # those of the sampled (unclipped) action.
    reach = 1.0 + float(cfg.extra.get("action_margin", 0.0))
    if log_std_init is None:
        net = nn.Sequential(_mlp(obs_dim, 2 * act_dim, n_agents, cfg.shared_policy, cfg),
                            NormalParamExtractor())
    else:
        net = nn.Sequential(_mlp(obs_dim, act_dim, n_agents, cfg.shared_policy, cfg),
                            AddStateIndependentNormalScale(act_dim, scale_mapping="exp",
                                                           init_value=float(log_std_init)))
    module = TensorDictModule(net, in_keys=[OBS_KEY],
                              out_keys=[("agents", "loc"), ("agents", "scale")])
    return ProbabilisticActor(
        module=module, in_keys=[("agents", "loc"), ("agents", "scale")],
        out_keys=[ACTION_KEY], distribution_class=TanhNormal,
        distribution_kwargs={"low": -reach, "high": reach},
        return_log_prob=True, log_prob_key=LOG_PROB_KEY)


def make_critic(cfg: TrainConfig, obs_dim: int, state_dim: int,
                n_agents: int) -> TensorDictModule:
    """Per-agent value ``[.., A, 1]`` at ``VALUE_KEY`` (layout: module doc)."""
    if cfg.centralized_critic:
        return TensorDictModule(PerAgentValues(state_dim, n_agents, cfg), in_keys=["state"],
                                out_keys=[VALUE_KEY])
    return TensorDictModule(_mlp(obs_dim, 1, n_agents, cfg.shared_policy, cfg),
                            in_keys=[OBS_KEY], out_keys=[VALUE_KEY])

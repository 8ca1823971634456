"""Actor and critic of each algorithm, from TorchRL's multi-agent modules.

=============  ==================================  ======================================
algo           actor (decentralised: local obs)    critic
=============  ==================================  ======================================
``mappo``      one MLP shared by every agent       shared MLP over the local observation
``mappo-cc``,  one MLP shared by every agent       shared MLP over ``state()`` (+ one-hot
``mappo-lag``                                      agent id unless rewards are shared)
``ippo``       one MLP per agent                   one MLP per agent, local observation
=============  ==================================  ======================================

``MultiAgentMLP(centralized=False)`` runs one network per agent on that agent's
slice only, so an actor never sees another agent's observation (a test checks it).
"""

from __future__ import annotations

import torch
from tensordict.nn import (
    AddStateIndependentNormalScale,
    NormalParamExtractor,
    TensorDictModule,
    TensorDictSequential,
)
from torch import nn
from torchrl.modules import MultiAgentMLP, ProbabilisticActor, TanhNormal

from heron.training.config import TrainConfig

OBS_KEY = ("agents", "observation")
ACTION_KEY = ("agents", "action")
LOG_PROB_KEY = ("agents", "action_log_prob")
VALUE_KEY = ("agents", "state_value")
CRITIC_STATE_KEY = ("agents", "critic_state")


class BroadcastState(nn.Module):
    """``state [.., S]`` -> ``[.., A, S (+ A)]``: the same global state for each agent's
    value head, with the agent's one-hot id when rewards are individual (one shared
    critic must know whose value it predicts)."""

    def __init__(self, n_agents: int, agent_id: bool) -> None:
        super().__init__()
        self.n_agents, self.agent_id = int(n_agents), bool(agent_id)
        self.register_buffer("eye", torch.eye(self.n_agents), persistent=False)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        x = state.unsqueeze(-2).expand(*state.shape[:-1], self.n_agents, state.shape[-1])
        if not self.agent_id:
            return x
        eye = self.eye.expand(*state.shape[:-1], self.n_agents, self.n_agents)
        return torch.cat([x, eye], dim=-1)


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
        agent_id = not cfg.share_reward
        broadcast = TensorDictModule(BroadcastState(n_agents, agent_id), in_keys=["state"],
                                     out_keys=[CRITIC_STATE_KEY])
        n_in = state_dim + (n_agents if agent_id else 0)
        value = TensorDictModule(_mlp(n_in, 1, n_agents, True, cfg),
                                 in_keys=[CRITIC_STATE_KEY], out_keys=[VALUE_KEY])
        return TensorDictSequential(broadcast, value)
    return TensorDictModule(_mlp(obs_dim, 1, n_agents, cfg.shared_policy, cfg),
                            in_keys=[OBS_KEY], out_keys=[VALUE_KEY])

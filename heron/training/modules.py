"""RLModules for HERON training (imports torch and ray: never import from ``heron``'s
package ``__init__``).

:class:`CentralizedCriticTorchModule` is the "true MAPPO" module used by
``algo="mappo-cc"``: RLlib 2.x's new API stack has no built-in centralised critic.

How the critic gets the global state: the env is wrapped by
:class:`heron.training.wrappers.GlobalStateObservation`, so each agent's
observation is ``{"obs": local, "state": global}``. RLlib stores that dict in its
episodes and batches it unchanged, so

* sampling (``_forward_exploration``/``_forward_inference``) runs the **actor** on
  ``obs["obs"]`` only: execution stays decentralised;
* ``compute_values`` (called by PPO's GAE learner connector, including on the
  bootstrap time step RLlib appends at episode-chunk ends, and again in the PPO
  loss) runs the **critic** on ``obs["state"]`` only.

No separate learner connector is needed, which keeps the state aligned with the
observation it belongs to by construction (an info-based connector would have to
re-derive the state of the artificial bootstrap step).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

LOCAL_OBS_KEY = "obs"
STATE_KEY = "state"


def _mlp(in_dim: int, hidden: list[int], out_dim: int, out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    last = in_dim
    for h in hidden:
        lin = nn.Linear(last, h)
        nn.init.orthogonal_(lin.weight, gain=2**0.5)
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.Tanh()]
        last = h
    out = nn.Linear(last, out_dim)
    nn.init.orthogonal_(out.weight, gain=out_gain)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


class CentralizedCriticTorchModule(TorchRLModule, ValueFunctionAPI):
    """Decentralised Gaussian actor on local obs + centralised critic V(global state).

    ``model_config`` keys: ``fcnet_hiddens`` (list of ints, default ``[64, 64]``,
    used by both networks), ``log_std_init`` (initial state-independent log std of
    the actor, default ``-0.5``: actions are normalised to [-1, 1], so std 1 would
    saturate them most of the time).
    """

    def setup(self) -> None:
        obs_space = self.observation_space
        if not (
            isinstance(obs_space, gym.spaces.Dict)
            and LOCAL_OBS_KEY in obs_space.spaces
            and STATE_KEY in obs_space.spaces
        ):
            raise ValueError(
                "CentralizedCriticTorchModule needs a Dict observation space with keys "
                f"{LOCAL_OBS_KEY!r} and {STATE_KEY!r} (wrap the env in "
                f"heron.training.wrappers.GlobalStateObservation); got {obs_space}."
            )
        if not isinstance(self.action_space, gym.spaces.Box):
            raise ValueError(f"Only Box action spaces are supported, got {self.action_space}.")
        cfg = dict(self.model_config or {})
        hidden = [int(h) for h in cfg.get("fcnet_hiddens", [64, 64])]
        self.local_obs_dim = int(obs_space[LOCAL_OBS_KEY].shape[0])
        self.state_dim = int(obs_space[STATE_KEY].shape[0])
        self.act_dim = int(self.action_space.shape[0])
        self.actor = _mlp(self.local_obs_dim, hidden, self.act_dim, out_gain=0.01)
        self.log_std = nn.Parameter(
            torch.full((self.act_dim,), float(cfg.get("log_std_init", -0.5)))
        )
        self.critic = _mlp(self.state_dim, hidden, 1, out_gain=1.0)

    # -- actor (decentralised) ------------------------------------------------------
    def actor_dist_inputs(self, local_obs: torch.Tensor) -> torch.Tensor:
        """Diagonal-Gaussian inputs ``[mean, log_std]`` from the local observation only."""
        mean = self.actor(local_obs)
        return torch.cat([mean, self.log_std.expand_as(mean)], dim=-1)

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self.actor_dist_inputs(batch[Columns.OBS][LOCAL_OBS_KEY])}

    # -- critic (centralised) -------------------------------------------------------
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """V(s) from the global state only; ``embeddings`` are ignored (no shared trunk)."""
        return self.critic(batch[Columns.OBS][STATE_KEY]).squeeze(-1)

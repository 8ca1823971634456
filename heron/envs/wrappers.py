"""Wrappers between HERON's env dialect and strict library APIs.

HERON envs return RLlib-style ``"__all__"`` entries
(:data:`~heron.envs.keys.ALL_AGENTS_KEY`) in the termination and truncation dicts.
Pure PettingZoo code does not expect them (PettingZoo's API test merely warns);
:class:`StrictPettingZoo` removes them with :func:`~heron.envs.keys.agent_entries`.
"""

from __future__ import annotations

from typing import Any

from pettingzoo import ParallelEnv

from heron.envs.keys import agent_entries


class StrictPettingZoo(ParallelEnv):
    def __init__(self, env: ParallelEnv) -> None:
        self.env = env
        self.metadata = getattr(env, "metadata", {})
        self.possible_agents = list(env.possible_agents)

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    @property
    def unwrapped(self) -> ParallelEnv:
        return self.env

    def observation_space(self, agent: str):
        return self.env.observation_space(agent)

    def action_space(self, agent: str):
        return self.env.action_space(agent)

    def reset(self, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: dict[str, Any]):
        obs, rew, term, trunc, info = self.env.step(actions)
        return obs, rew, agent_entries(term), agent_entries(trunc), info

    def state(self):
        return self.env.state()

    def close(self) -> None:
        self.env.close()

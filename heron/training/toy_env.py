"""A tiny, fast, domain-agnostic HERON env for smoke-testing the training stack.

Two houses heat rooms; ``house1`` has one radiator, ``house2`` two, so the agents'
observation *and* action spaces differ in size: exactly the situation that forces
:class:`heron.training.wrappers.PadToCommonSpaces` for a shared policy. A step
costs microseconds, so an RLlib iteration on it measures the framework, not the
simulator.

Comfort band 20-24 °C: ``safety`` is how far a room is outside it, ``cost`` the
energy used. Rooms start cold (18-19 °C) and a random policy drifts above 24 °C,
so a learner has to heat first and then throttle: learning is visible within a
few thousand steps.

It lives in the package (not in tests/) so Ray workers can import it by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.spaces import Box

from heron.agents.coordinator_agent import CoordinatorAgent
from heron.agents.field_agent import FieldAgent
from heron.core.feature import FeatureBlock
from heron.envs.base import HeronParallelEnv

COMFORT_CENTER_C = 22.0
COMFORT_HALF_WIDTH_C = 2.0


@dataclass
class RoomTemp(FeatureBlock):
    #: Temperature minus the comfort centre (°C); centred so networks see O(1) inputs.
    temp_dev: float = -3.5
    power: float = 0.0


class Radiator(FieldAgent):
    def __init__(self, agent_id: str, **kw: Any) -> None:
        super().__init__(agent_id, **kw)
        self.state.add_feature("room", RoomTemp())

    def get_action_space(self) -> Box:
        return Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def apply_action(self, action: np.ndarray) -> None:
        self.state.room.power = float((action[0] + 1.0) / 2.0)


class ToyRooms(HeronParallelEnv):
    """``env_config``: ``max_episode_steps`` (24), ``penalty`` (10), ``share_reward``,
    ``rooms`` (radiators per house, default ``{"house1": 1, "house2": 2}``),
    ``noise`` (temperature noise std, 0.1). The safety penalty defaults to 1 (not
    HERON's 10) so returns stay O(10) and value functions learn quickly."""

    metadata = {"render_modes": [], "name": "heron_toy_rooms_v0"}

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__({"penalty": 1.0, **dict(env_config or {})})
        self.rooms = dict(self.env_config.get("rooms", {"house1": 1, "house2": 2}))
        self.noise = float(self.env_config.get("noise", 0.1))
        self._build_agents()
        self._init_spaces()

    def _build_agents(self) -> None:
        for house, n in self.rooms.items():
            subs = {f"{house}_r{i}": Radiator(f"{house}_r{i}") for i in range(int(n))}
            self.agent_dict[house] = CoordinatorAgent(house, subordinate_agents=subs)
        self.possible_agents = list(self.agent_dict)

    def _radiators(self, house: str) -> list[Radiator]:
        return list(self.agent_dict[house].subordinate_agents.values())

    def _reset_domain(self, seed: int | None, options: dict | None) -> None:
        for house in self.possible_agents:
            for r in self._radiators(house):
                r.state.room.temp_dev = float(self.np_random.uniform(-4.0, -3.0))

    def _simulate(self) -> dict[str, dict[str, Any]]:
        out = {}
        for house in self.agents:
            cost = 0.0
            for r in self._radiators(house):
                room = r.state.room
                room.temp_dev += 2.0 * room.power - 0.5 + self.np_random.normal(0.0, self.noise)
                cost += room.power
            out[house] = {"cost": cost}
        return out

    def _reward_and_safety(self) -> tuple[dict[str, float], dict[str, float]]:
        rewards, safety = {}, {}
        for house in self.agents:
            rads = self._radiators(house)
            rewards[house] = -sum(r.state.room.power for r in rads)
            safety[house] = sum(
                max(0.0, abs(r.state.room.temp_dev) - COMFORT_HALF_WIDTH_C) for r in rads
            )
        return rewards, safety


def make_toy_env(env_config: dict[str, Any] | None = None) -> ToyRooms:
    """``env_creator`` for :func:`heron.training.rllib.build_algorithm`."""
    return ToyRooms(env_config)


def make_toy_vector_env(env_config: dict[str, Any] | None, num_envs: int) -> Any:
    """``vector_env_creator`` for :func:`heron.training.torchrl.train`: N ToyRooms
    stepped in a loop (module level, so collector processes can import it)."""
    from heron.training.torchrl.vector import LoopVectorEnv

    return LoopVectorEnv(make_toy_env, env_config, num_envs)

from dataclasses import dataclass

import numpy as np
import pytest
from gymnasium.spaces import Box
from pettingzoo.test import parallel_api_test

from heron.agents import CoordinatorAgent, FieldAgent
from heron.core.feature import FeatureBlock
from heron.envs import HeronParallelEnv, StrictPettingZoo


@dataclass
class Temp(FeatureBlock):
    temp_c: float = 18.0
    power: float = 0.0


class Radiator(FieldAgent):
    def __init__(self, agent_id, **kw):
        super().__init__(agent_id, **kw)
        self.state.add_feature("temp", Temp())

    def get_action_space(self):
        return Box(-1, 1, shape=(1,), dtype=np.float32)

    def apply_action(self, action):
        self.state.temp.power = float((action[0] + 1) / 2)


class Rooms(HeronParallelEnv):
    def __init__(self, cfg=None):
        super().__init__(cfg)
        self._build_agents()
        self._init_spaces()

    def _build_agents(self):
        for name in ("house1", "house2"):
            self.agent_dict[name] = CoordinatorAgent(
                name, subordinate_agents={f"{name}_r": Radiator(f"{name}_r")})
        self.possible_agents = list(self.agent_dict)

    def _simulate(self):
        out = {}
        for a in self.agents:
            r = next(iter(self.agent_dict[a].subordinate_agents.values()))
            r.state.temp.temp_c += 2.0 * r.state.temp.power - 0.5 + self.np_random.normal(0, 0.1)
            out[a] = {"temp": r.state.temp.temp_c}
        return out

    def _reward_and_safety(self):
        rew, saf = {}, {}
        for a in self.agents:
            r = next(iter(self.agent_dict[a].subordinate_agents.values()))
            rew[a] = -r.state.temp.power
            saf[a] = max(0.0, 20.0 - r.state.temp.temp_c)
        return rew, saf


def test_api_and_all_keys():
    env = Rooms({"max_episode_steps": 3})
    obs, infos = env.reset(seed=0)
    assert set(obs) == {"house1", "house2"} and obs["house1"].dtype == np.float32
    for _t in range(3):
        out = env.step({a: env.action_space(a).sample() for a in env.agents})
    _, _, term, trunc, _ = out
    assert trunc["__all__"] and not term["__all__"] and env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_pettingzoo_api_test_passes_through_strict_adapter():
    parallel_api_test(StrictPettingZoo(Rooms({"max_episode_steps": 5})), num_cycles=20)


def test_missing_action_is_named():
    env = Rooms()
    env.reset(seed=0)
    with pytest.raises(KeyError, match="house2"):
        env.step({"house1": np.zeros(1)})


def test_seeded_trajectories_identical():
    def run():
        env = Rooms({"max_episode_steps": 4})
        env.reset(seed=42)
        rs = []
        for _ in range(4):
            _, r, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
            rs.append(r)
        return rs
    assert run() == run()

"""The RLlib-style ``"__all__"`` key: added by the raw env, removed by every wrapper."""

import numpy as np
import pytest

from heron.envs import ALL_AGENTS_KEY, StrictPettingZoo, agent_entries
from heron.envs import keys as keys_module
from heron.training.evaluate import rollout
from heron.training.toy_env import ToyRooms
from heron.training.wrappers import (
    GlobalStateObservation,
    NormalizeObservation,
    PadToCommonSpaces,
    ScaleReward,
    observation_stats,
    wrap_for_algo,
)


def test_key_is_rllibs():
    assert ALL_AGENTS_KEY == "__all__"
    assert keys_module.ALL_AGENTS_KEY is ALL_AGENTS_KEY


def test_agent_entries_drops_only_the_all_key_and_copies():
    d = {"a": True, ALL_AGENTS_KEY: False, "b": 1}
    out = agent_entries(d)
    assert out == {"a": True, "b": 1}
    assert d == {"a": True, ALL_AGENTS_KEY: False, "b": 1}  # input unchanged
    plain = {"a": 1.0}
    copy = agent_entries(plain)
    assert copy == plain and copy is not plain
    assert agent_entries({}) == {}
    assert agent_entries({ALL_AGENTS_KEY: True}) == {}


def _episode(env, actions):
    env.reset(seed=0)
    steps = []
    while env.agents:
        steps.append(env.step(actions(env)))
    return steps


def _zeros(env):
    return {a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents}


def test_raw_env_carries_the_key_each_step():
    env = ToyRooms({"max_episode_steps": 3})
    steps = _episode(env, _zeros)
    assert len(steps) == 3
    for i, (_, rew, term, trunc, _) in enumerate(steps):
        assert term[ALL_AGENTS_KEY] is False
        assert trunc[ALL_AGENTS_KEY] is (i == 2)
        assert ALL_AGENTS_KEY not in rew
        assert set(agent_entries(term)) == set(env.possible_agents)


def _stats():
    return observation_stats(ToyRooms({"max_episode_steps": 3}), steps=12, seed=0)


@pytest.mark.parametrize("make", [
    StrictPettingZoo,
    PadToCommonSpaces,
    lambda e: GlobalStateObservation(PadToCommonSpaces(e)),
    lambda e: ScaleReward(e, 0.5),
    lambda e: NormalizeObservation(e, _stats()),
    lambda e: wrap_for_algo(e, "ippo"),
    lambda e: wrap_for_algo(e, "mappo", reward_scale=2.0),
    lambda e: wrap_for_algo(e, "mappo-cc"),
], ids=["strict", "pad", "global-state", "scale", "normalize", "ippo", "mappo", "mappo-cc"])
def test_wrappers_return_per_agent_dicts_only(make):
    env = make(ToyRooms({"max_episode_steps": 3}))
    steps = _episode(env, _zeros)
    assert len(steps) == 3
    for i, (obs, rew, term, trunc, info) in enumerate(steps):
        for d in (obs, rew, term, trunc, info):
            assert ALL_AGENTS_KEY not in d
        assert set(term) == set(trunc) == set(rew) == set(env.possible_agents)
        assert all(v is (i == 2) for v in trunc.values())


def test_scale_reward_scales_agent_rewards_only():
    raw = _episode(ToyRooms({"max_episode_steps": 2, "noise": 0.0}), _zeros)
    scaled = _episode(ScaleReward(ToyRooms({"max_episode_steps": 2, "noise": 0.0}), 3.0), _zeros)
    for (_, r_raw, *_), (_, r_scaled, *_) in zip(raw, scaled, strict=True):
        assert set(r_scaled) == set(r_raw)
        for a in r_raw:
            assert r_scaled[a] == pytest.approx(3.0 * r_raw[a])


def test_rollout_return_sums_agent_rewards():
    class Zero:
        def __init__(self, shape):
            self.shape = shape

        def reset(self, seed=None):
            pass

        def forward(self, obs):
            return np.zeros(self.shape, np.float32)

    env = ToyRooms({"max_episode_steps": 3, "noise": 0.0})
    expected = sum(sum(r.values()) for _, r, *_ in _episode(env, _zeros))
    policies = {a: Zero(env.action_space(a).shape) for a in env.possible_agents}
    totals = rollout(env, policies, seed=0)
    assert totals["steps"] == 3
    assert totals["return"] == pytest.approx(expected)

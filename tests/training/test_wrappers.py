"""Space padding and global-state observations (pure numpy: no Ray needed)."""

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import parallel_api_test

from heron.training.toy_env import ToyRooms
from heron.training.wrappers import (
    GlobalStateObservation,
    PadToCommonSpaces,
    pad_observation,
    unpad_action,
    wrap_for_algo,
)


def test_toy_env_is_heterogeneous():
    env = ToyRooms()
    assert env.action_space("house1").shape == (1,)
    assert env.action_space("house2").shape == (2,)
    assert env.observation_space("house1").shape != env.observation_space("house2").shape


def test_padding_gives_common_spaces_and_one_hot_ids():
    env = PadToCommonSpaces(ToyRooms())
    s1, s2 = env.observation_space("house1"), env.observation_space("house2")
    assert s1 == s2 and s1.shape == (4 + 2,)
    assert env.action_space("house1") == env.action_space("house2") == spaces.Box(
        -1, 1, (2,), np.float32)
    obs, _ = env.reset(seed=0)
    raw, _ = ToyRooms().reset(seed=0)
    np.testing.assert_allclose(obs["house1"][:2], raw["house1"])
    np.testing.assert_array_equal(obs["house1"][2:4], [0, 0])          # zero padding
    np.testing.assert_array_equal(obs["house1"][4:], [1, 0])           # agent id
    np.testing.assert_array_equal(obs["house2"][4:], [0, 1])


def test_extra_action_dims_are_ignored():
    """house1 owns one radiator: the second entry of its padded action must not matter."""
    def run(extra):
        env = PadToCommonSpaces(ToyRooms({"noise": 0.0}))
        env.reset(seed=1)
        out = env.step({"house1": np.array([0.3, extra]), "house2": np.array([0.1, -0.2])})
        return out[0], out[1]
    (o_a, r_a), (o_b, r_b) = run(-1.0), run(1.0)
    assert r_a == r_b
    for a in o_a:
        np.testing.assert_array_equal(o_a[a], o_b[a])


def test_unpad_rescales_to_agent_bounds():
    spec = {"obs_dim": 1, "act_dim": 3, "agent_id_onehot": False,
            "agents": {"a": {"index": 0, "obs_dim": 1, "act_low": [0.0, -np.inf],
                             "act_high": [10.0, np.inf]}}}
    np.testing.assert_allclose(unpad_action(spec, "a", [-1.0, 0.5, 0.9]), [0.0, 0.5])
    np.testing.assert_allclose(unpad_action(spec, "a", [1.0, 0.0, 0.0]), [10.0, 0.0])
    np.testing.assert_allclose(unpad_action(spec, "a", [5.0, 0.0, 0.0]), [10.0, 0.0])  # clipped
    with pytest.raises(ValueError, match="expected 1"):
        pad_observation(spec, "a", [1.0, 2.0])


def test_global_state_observation_carries_env_state():
    base = PadToCommonSpaces(ToyRooms())
    env = GlobalStateObservation(base)
    obs, _ = env.reset(seed=3)
    state = ToyRooms().state().shape[0]
    for a in env.possible_agents:
        assert set(obs[a]) == {"obs", "state"}
        assert env.observation_space(a)["state"].shape == (state,)
        np.testing.assert_array_equal(obs[a]["state"], base.state())
    obs, *_ = env.step({a: np.zeros(2) for a in env.agents})
    np.testing.assert_array_equal(obs["house1"]["state"], base.state())


def test_agent_id_in_state():
    env = GlobalStateObservation(PadToCommonSpaces(ToyRooms()), agent_id_in_state=True)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["house1"]["state"][-2:], [1, 0])
    np.testing.assert_array_equal(obs["house2"]["state"][-2:], [0, 1])


@pytest.mark.parametrize("algo", ["mappo", "ippo", "mappo-cc"])
def test_wrapped_envs_pass_pettingzoo_api_test(algo):
    env = wrap_for_algo(ToyRooms({"max_episode_steps": 5}), algo)
    parallel_api_test(env, num_cycles=12)


def test_non_box_spaces_are_rejected():
    class Discrete(ToyRooms):
        def action_space(self, agent):
            return spaces.Discrete(3)
    with pytest.raises(TypeError, match="1-D gymnasium Box"):
        PadToCommonSpaces(Discrete())

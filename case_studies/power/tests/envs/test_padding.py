"""pad_spaces: one observation/action space for every microgrid (a shared policy fits all)."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup


def make(**overrides):
    return MultiAgentMicrogrids({**load_setup("ieee34_ieee13"), "max_episode_steps": 6,
                                 **overrides})


def test_shipped_setup_gives_every_microgrid_the_same_spaces():
    env = make()
    first = env.possible_agents[0]
    for a in env.possible_agents:
        assert env.observation_space(a) == env.observation_space(first)
        assert env.action_space(a) == env.action_space(first)
    native = env.padding_layout()["native_obs_dim"]
    assert len(set(native.values())) > 1, "the setup's microgrids own different devices"
    obs, _ = env.reset(seed=0)
    for a, o in obs.items():
        assert o.shape == env.observation_space(a).shape
        assert np.all(o[native[a]:] == 0.0), "padded observation entries are exactly 0"


def test_padded_observation_starts_with_the_native_one():
    padded, plain = make(), make(pad_spaces=False)
    po, _ = padded.reset(seed=3)
    no, _ = plain.reset(seed=3)
    for a in padded.possible_agents:
        np.testing.assert_array_equal(po[a][: no[a].size], no[a])


def test_padded_action_entries_are_ignored():
    """Whatever the extra entries hold, the trajectory is that of the native action."""
    rng = np.random.default_rng(0)
    envs = [make(), make(), make(pad_spaces=False)]
    for e in envs:
        e.reset(seed=1)
    native = envs[0].padding_layout()["native_act_dim"]
    for _ in range(6):
        own = {a: rng.uniform(-1, 1, n) for a, n in native.items()}
        dim = envs[0].action_space("MG1").shape[0]
        garbage = {a: np.concatenate([own[a], rng.choice([-1.0, 1.0], dim - n)])
                   for a, n in native.items()}
        zeros = {a: np.concatenate([own[a], np.zeros(dim - n)]) for a, n in native.items()}
        out = [envs[0].step(garbage), envs[1].step(zeros), envs[2].step(own)]
        for a in native:
            assert out[0][1][a] == out[1][1][a] == out[2][1][a]
            np.testing.assert_array_equal(out[0][0][a], out[1][0][a])


def test_native_size_action_is_accepted():
    env = make()
    env.reset(seed=0)
    native = env.padding_layout()["native_act_dim"]
    _, rewards, *_ = env.step({a: np.zeros(n) for a, n in native.items()})
    assert set(rewards) == set(native)


def test_padding_off_gives_native_spaces():
    env = make(pad_spaces=False)
    dims = {env.observation_space(a).shape[0] for a in env.possible_agents}
    assert len(dims) > 1
    assert env.padding_layout()["padded"] is False


@pytest.mark.parametrize("pad", [True, False])
def test_parallel_api(pad):
    parallel_api_test(make(pad_spaces=pad, max_episode_steps=4), num_cycles=10)


def test_p2p_price_stays_last_of_the_native_action():
    env = make(protocol="p2p")
    layout = env.padding_layout()
    assert len(set(layout["act_dim"].values())) == 1
    env.reset(seed=0)
    dim = env.action_space("MG1").shape[0]
    obs, rewards, _, _, infos = env.step({a: np.zeros(dim) for a in env.agents})
    assert all(np.isfinite(r) for r in rewards.values())


def test_pad_spaces_must_be_a_bool():
    with pytest.raises(ValueError, match="pad_spaces must be true or false"):
        make(pad_spaces="false")

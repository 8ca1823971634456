"""Behaviour of the power environments on the shipped setups."""

import copy

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from heron.envs import StrictPettingZoo
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup


@pytest.fixture(scope="module")
def base_config():
    cfg = load_setup("ieee34_ieee13")
    cfg["max_episode_steps"] = 6
    return cfg


def make(cfg, **over):
    c = dict(cfg)
    c.update(over)
    return MultiAgentMicrogrids(c)


def rollout(env, seed, steps, action_seed=1):
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    traj = [obs]
    for _ in range(steps):
        acts = {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32)
                for a in env.agents}
        out = env.step(acts)
        traj.append(out)
        if not env.agents:
            break
    return traj


def test_spaces_observations_and_step_tuple(base_config):
    env = make(base_config)
    assert env.possible_agents == ["MG1", "MG2", "MG3"]
    obs, infos = env.reset(seed=0)
    for a in env.agents:
        assert obs[a].dtype == np.float32
        assert env.observation_space(a).contains(obs[a])
    assert env.action_space("MG1").shape == (3,)  # gen (P, Q) + ESS (P)
    obs, rew, term, trunc, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
    assert "__all__" in term and "__all__" in trunc
    for key in ("cost", "safety", "converged", "v_min", "v_max", "grid_import_MW", "price"):
        assert key in infos["MG1"], key
    assert infos["MG1"]["converged"] is True
    assert 0.9 < infos["MG1"]["v_min"] <= infos["MG1"]["v_max"] < 1.1


def test_pettingzoo_parallel_api(base_config):
    parallel_api_test(StrictPettingZoo(make(base_config)), num_cycles=10)


def test_seeded_trajectories_are_bit_identical(base_config):
    t1 = rollout(make(base_config), seed=7, steps=5)
    t2 = rollout(make(base_config), seed=7, steps=5)
    for a, b in zip(t1[1:], t2[1:]):
        for agent in a[0]:
            np.testing.assert_array_equal(a[0][agent], b[0][agent])
            assert a[1][agent] == b[1][agent]


def test_distributed_mode_matches_centralized(base_config):
    cen = rollout(make(base_config, centralized=True), seed=3, steps=5)
    dis = rollout(make(base_config, centralized=False, message_broker="in_memory"), seed=3, steps=5)
    for a, b in zip(cen[1:], dis[1:]):
        obs_a, rew_a, _, _, info_a = a
        obs_b, rew_b, _, _, info_b = b
        for agent in obs_a:
            np.testing.assert_array_equal(obs_a[agent], obs_b[agent])
            assert rew_a[agent] == rew_b[agent]
            assert info_a[agent] == info_b[agent]


def test_train_random_days_test_sequential_days(base_config):
    env = make(base_config, train=False)
    starts = []
    for _ in range(3):
        env.reset()
        starts.append(env.start_hour)
    assert starts == [0, 24, 48]
    env = make(base_config, train=True)
    train_starts = {env.reset(seed=s) and env.start_hour for s in range(8)}
    assert len(train_starts) > 1 and all(h % 24 == 0 for h in train_starts)


def test_loads_follow_dataset_and_load_scale(base_config):
    env = make(base_config, train=False)
    env.reset(options={"day": 0})
    gm = env.grid_model
    mg1 = env.agent_dict["MG1"]
    prof = env._series("load", "H0-A")
    for t in range(3):
        env.step({a: np.zeros(env.action_space(a).shape) for a in env.agents})
        expected = mg1._base_p * 0.1 * prof[t]
        np.testing.assert_allclose(gm.load_p[mg1.load_rows], expected)
    dso = env.system_agent
    np.testing.assert_allclose(gm.load_p[dso._load_rows],
                               dso._base_p * env._series("load", "G0-A")[2])


def test_share_reward_and_penalty(base_config):
    env = make(base_config, share_reward=True)
    env.reset(seed=0)
    _, rew, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
    assert len(set(rew.values())) == 1
    expected = np.mean([-infos[a]["cost"] - 10.0 * infos[a]["safety"] for a in infos])
    assert rew["MG1"] == pytest.approx(expected)


def test_nonconvergence_is_penalised_not_raised(base_config):
    # feasible at the first hour (generators start at 0 MW), infeasible once dispatched:
    # 40 MW into a 4.16 kV microgrid feeder
    cfg = copy.deepcopy(base_config)
    cfg["microgrid_configs"][0]["devices"][0]["device_state_config"].update(
        p_max_MW=40.0, s_rated_MVA=48.0)
    env = make(cfg, nonconvergence_penalty=500.0)
    env.reset(seed=0)
    actions = {a: np.zeros(env.action_space(a).shape) for a in env.agents}
    actions["MG1"][0] = 1.0
    _, rew, _, trunc, infos = env.step(actions)
    assert infos["MG1"]["converged"] is False
    assert rew["MG1"] <= -500.0, "an infeasible export must not earn more than the penalty"
    assert trunc["__all__"] is True  # safe truncation


def test_reward_override_recipe(base_config):
    class Stable(MultiAgentMicrogrids):
        def _reward_and_safety(self):
            rewards, safety = super()._reward_and_safety()
            for agent_id, agent in self.agent_dict.items():
                v_stability = 1.0 - abs(agent.state.bus_voltages.v_max - 1.0)
                rewards[agent_id] += 0.1 * v_stability
            return rewards, safety

    base = make(base_config, share_reward=False)
    custom = Stable({**base_config, "share_reward": False})
    acts = {a: np.zeros(base.action_space(a).shape) for a in base.possible_agents}
    base.reset(seed=0)
    custom.reset(seed=0)
    _, r0, *_ = base.step(acts)
    _, r1, *_ = custom.step(acts)
    v = custom.agent_dict["MG1"].state.bus_voltages.v_max
    assert r1["MG1"] == pytest.approx(r0["MG1"] + 0.1 * (1 - abs(v - 1)))


def test_state_is_global(base_config):
    env = make(base_config)
    env.reset(seed=0)
    s = env.state()
    assert s.dtype == np.float32
    assert s.size > sum(env.native_observation_spaces[a].shape[0] for a in env.possible_agents) - 1


def test_pandapower_backend_gives_same_results(base_config):
    fast = rollout(make(base_config), seed=1, steps=3)
    ref = rollout(make(base_config, power_flow={"backend": "pandapower"}), seed=1, steps=3)
    for a, b in zip(fast[1:], ref[1:]):
        for agent in a[0]:
            np.testing.assert_allclose(a[0][agent], b[0][agent], atol=1e-5)
            assert a[4][agent]["cost"] == pytest.approx(b[4][agent]["cost"], abs=1e-4)


def test_actions_validated(base_config):
    env = make(base_config)
    env.reset(seed=0)
    bad = {a: np.zeros(env.action_space(a).shape) for a in env.agents}
    bad["MG1"] = np.array([np.nan, 0, 0])
    with pytest.raises(ValueError, match="NaN"):
        env.step(bad)
    with pytest.raises(KeyError, match="MG3"):
        env.reset(seed=0)
        env.step({"MG1": np.zeros(3), "MG2": np.zeros(2)})

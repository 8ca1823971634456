"""VectorMultiAgentMicrogrids reproduces N single MultiAgentMicrogrids, copy by copy."""

from __future__ import annotations

import copy
import logging
import warnings

import numpy as np
import pytest

from powergrid.agents.device_agent import ConfigError
from powergrid.envs.equivalence import assert_copies_match, close, obs_tolerance
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.envs.vector_env import PerCopyFallbackWarning, VectorMultiAgentMicrogrids
from powergrid.setups.loader import get_available_setups, load_setup

STEPS = 26           # two whole episodes of 12 steps plus the autoresets between them
EPISODE = 12


def config(setup: str) -> dict:
    cfg = load_setup(setup)
    # training mode: each copy draws its days from its seed, as a single env does (in test
    # mode the copies split the test days, see test_test_copies_walk_every_test_day_once)
    cfg.update(max_episode_steps=EPISODE, train=True)
    return cfg


def actions_for(kind: str, rng: np.random.Generator, venv: VectorMultiAgentMicrogrids):
    out = {}
    for a in venv.possible_agents:
        shape = (venv.num_envs, venv.single_action_space(a).shape[0])
        out[a] = (rng.uniform(-1, 1, shape) if kind == "random"
                  else rng.choice([-1.0, 1.0], shape))
    return out


@pytest.mark.parametrize("setup", get_available_setups())
@pytest.mark.parametrize("n", [1, 8])
@pytest.mark.parametrize("kind", ["random", "bang-bang"])
def test_copies_reproduce_single_envs(setup, n, kind, caplog):
    caplog.set_level(logging.ERROR)
    reproduce(config(setup), n, kind)


@pytest.mark.parametrize("kind", ["random", "bang-bang"])
def test_rl_tap_changers_are_array_stepped_and_reproduce_single_envs(kind, caplog):
    """The built-in Transformer's array maths (taps() included): no per-copy fallback,
    the same taps, costs and observations as single envs, episodes and resets included."""
    caplog.set_level(logging.ERROR)
    cfg = config("ieee34_ieee13")
    cfg["microgrid_configs"][0]["devices"].append(
        {"type": "Transformer", "name": "oltc",
         "device_state_config": {"trafo": "XFM1", "tap_min": -4, "tap_max": 4,
                                 "tap_cost": 2.0}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerCopyFallbackWarning)
        venv = reproduce(cfg, 4, kind)
    assert not venv._fallback


def reproduce(cfg: dict, n: int, kind: str) -> VectorMultiAgentMicrogrids:
    """Step ``n`` copies and ``n`` single envs with the same actions; every figure agrees."""
    venv = VectorMultiAgentMicrogrids(cfg, n)
    singles = [MultiAgentMicrogrids(cfg) for _ in range(n)]
    obs, _ = venv.reset(seed=100)
    single_obs = [s.reset(seed=100 + i)[0] for i, s in enumerate(singles)]
    rng = np.random.default_rng(7)
    tol = {a: obs_tolerance(singles[0], a) for a in venv.possible_agents}
    state_tol = np.concatenate([obs_tolerance(singles[0], a)[:s.native_observation_spaces[a]
                                                              .shape[0]]
                                for a in venv.possible_agents for s in singles[:1]])
    failures = 0
    for t in range(STEPS):
        assert_copies_match(venv, obs, singles, single_obs, tol, t)
        for i, s in enumerate(singles):
            state = venv.state()[i]
            assert close(state[:state_tol.size], s.state()[:state_tol.size], state_tol)
            assert close(state[state_tol.size:], s.state()[state_tol.size:])
        acts = actions_for(kind, rng, venv)
        obs, rewards, _, truncs, infos = venv.step(acts)
        for i, s in enumerate(singles):
            if not s.agents:  # the vector copy autoresets on this step: so does the single
                single_obs[i], _ = s.reset()
                assert infos[venv.possible_agents[0]]["_reset"][i]
                assert all(rewards[a][i] == 0.0 for a in venv.possible_agents)
                continue
            single_obs[i], s_rew, _, s_trunc, s_info = s.step(
                {a: acts[a][i] for a in s.agents})
            for a in venv.possible_agents:
                # $ figures within 1e-5: the stand-alone microgrid's single solver reports
                # an ext-grid power ~2e-7 MW off pp.runpp (the batched solver agrees with
                # pp.runpp to 1e-13), i.e. ~1e-5 $ at ~40 $/MWh
                assert close(rewards[a][i], s_rew[a], 1e-5), (t, i, a, rewards[a][i], s_rew[a])
                assert truncs[a][i] == s_trunc[a]
                for key, atol in (("cost", 1e-5), ("safety", 1e-6), ("grid_import_MW", 1e-6),
                                  ("v_min", 1e-6), ("v_max", 1e-6)):
                    assert close(infos[a][key][i], s_info[a][key], atol), (t, i, a, key)
                assert infos[a]["converged"][i] == s_info[a]["converged"]
                assert infos[a]["hour"][i] == s_info[a]["hour"]
                failures += not s_info[a]["converged"]
    venv.close()
    return venv


def test_a_failed_copy_does_not_touch_the_others():
    cfg = config("ieee34_ieee13")
    gen = cfg["microgrid_configs"][0]["devices"][0]["device_state_config"]
    gen.update(p_max_MW=40.0, s_rated_MVA=48.0)   # full output cannot be carried
    venv = VectorMultiAgentMicrogrids(cfg, 4)
    ref = VectorMultiAgentMicrogrids(cfg, 4)
    venv.reset(seed=0)
    ref.reset(seed=0)
    acts = {a: np.zeros((4, venv.single_action_space(a).shape[0])) for a in venv.possible_agents}
    acts["MG1"][:, 0] = -1.0                       # gen1 at p_min: feasible
    bad = copy.deepcopy(acts)
    bad["MG1"][2, 0] = 1.0                         # copy 2 at 40 MW: diverges
    o_bad, r_bad, _, tr_bad, i_bad = venv.step(bad)
    o_ref, r_ref, _, _, _ = ref.step(acts)
    assert not i_bad["MG1"]["converged"][2] and tr_bad["MG1"][2]
    assert r_bad["MG1"][2] <= -venv.nonconvergence_penalty
    others = [0, 1, 3]
    for a in venv.possible_agents:
        np.testing.assert_array_equal(o_bad[a][others], o_ref[a][others])
        np.testing.assert_array_equal(r_bad[a][others], r_ref[a][others])
    assert np.isfinite(o_bad["MG1"]).all()
    # the next step resets only the failed copy
    _, _, _, _, infos = venv.step(acts)
    assert infos["MG1"]["_reset"].tolist() == [False, False, True, False]


def test_test_copies_walk_every_test_day_once():
    cfg = load_setup("ieee34_ieee13")
    cfg.update(train=False, max_episode_steps=1)
    venv = VectorMultiAgentMicrogrids(cfg, 8)
    venv.reset(seed=0)
    days = len(venv.template.dataset["test"]["load"]) // 24
    seen = [venv.start_hour.copy() // 24]
    zeros = {a: np.zeros((8, venv.single_action_space(a).shape[0])) for a in venv.possible_agents}
    while sum(len(s) for s in seen) < days:
        venv.step(zeros)          # ends every episode (1 step)
        venv.step(zeros)          # autoreset: the next days
        seen.append(venv.start_hour.copy() // 24)
    walked = np.concatenate(seen)[:days]
    assert sorted(walked.tolist()) == list(range(days))


def test_bad_actions_name_agent_and_copy():
    venv = VectorMultiAgentMicrogrids(config("ieee34_ieee13"), 3)
    venv.reset(seed=0)
    good = {a: np.zeros((3, venv.single_action_space(a).shape[0])) for a in venv.possible_agents}
    nan = copy.deepcopy(good)
    nan["MG2"][1, 0] = np.nan
    with pytest.raises(ValueError, match=r"MG2.*copy 1"):
        venv.step(nan)
    with pytest.raises(ValueError, match="shape"):
        venv.step({**good, "MG1": np.zeros((2, 3))})
    with pytest.raises(KeyError, match="MG3"):
        venv.step({k: v for k, v in good.items() if k != "MG3"})
    before = venv.state().copy()
    with pytest.raises(ValueError):
        venv.step(nan)
    np.testing.assert_array_equal(venv.state(), before)  # a rejected step changes nothing


def test_unsupported_setups_are_refused_with_the_env_to_use():
    cfg = config("ieee34_ieee13")
    cfg["protocol"] = "p2p"
    with pytest.raises(ConfigError, match="MultiAgentMicrogrids"):
        VectorMultiAgentMicrogrids(cfg, 2)


def run_side_by_side(cfg: dict, n: int, steps: int) -> None:
    venv = VectorMultiAgentMicrogrids(cfg, n)
    singles = [MultiAgentMicrogrids(cfg) for _ in range(n)]
    obs, _ = venv.reset(seed=3)
    single_obs = [s.reset(seed=3 + i)[0] for i, s in enumerate(singles)]
    rng = np.random.default_rng(1)
    for t in range(steps):
        for i in range(n):
            for a in venv.possible_agents:
                assert close(obs[a][i], single_obs[i][a], 1e-4), (t, i, a)
        acts = actions_for("random", rng, venv)
        obs, rewards, _, _, _ = venv.step(acts)
        for i, s in enumerate(singles):
            if not s.agents:
                single_obs[i], _ = s.reset()
                continue
            single_obs[i], s_rew, *_ = s.step({a: acts[a][i] for a in s.agents})
            for a in venv.possible_agents:
                assert close(rewards[a][i], s_rew[a], 1e-5), (t, i, a)


def test_the_guides_custom_device_runs_per_copy_with_one_warning(guide_wind_turbine):
    from powergrid.agents.registry import DEVICE_REGISTRY
    from powergrid.envs import vector_env

    cls = guide_wind_turbine
    DEVICE_REGISTRY["GuideWindTurbine"] = cls
    try:
        cfg = config("ieee34_ieee13")
        cfg["microgrid_configs"][1]["devices"].append(
            {"type": "GuideWindTurbine", "name": "wt2",
             "device_state_config": {"bus": "Bus 675", "p_rated_MW": 0.5}})
        vector_env._WARNED.discard(cls)
        with pytest.warns(vector_env.PerCopyFallbackWarning, match="WindTurbine"):
            VectorMultiAgentMicrogrids(cfg, 2)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", vector_env.PerCopyFallbackWarning)
            VectorMultiAgentMicrogrids(cfg, 2)  # once per class, not per env
        run_side_by_side(cfg, 3, 15)
    finally:
        del DEVICE_REGISTRY["GuideWindTurbine"]


def test_generators_with_commitment_run_per_copy():
    cfg = config("ieee34_ieee13")
    cfg["microgrid_configs"][0]["devices"][0]["device_state_config"].update(
        allow_commitment=True, startup_time_hr=1.0, startup_cost=5.0)
    from powergrid.agents.generator import Generator
    from powergrid.envs import vector_env

    vector_env._WARNED.discard(Generator)
    with pytest.warns(vector_env.PerCopyFallbackWarning, match="copy by copy"):
        run_side_by_side(cfg, 2, 14)


def test_potential_is_the_stored_energy_at_the_splits_mean_price():
    venv = VectorMultiAgentMicrogrids({**config("ieee34_ieee13"), "share_reward": False}, 2)
    _, infos = venv.reset(seed=0)
    mean_price = float(np.mean(venv._price_series))
    owners = venv.ess.agent
    assert len(owners) > 0
    energy = venv.soc * venv.ess.params["e_cap"]

    def expected(energy: np.ndarray) -> np.ndarray:
        out = np.zeros((2, len(venv.possible_agents)))
        for d, ai in enumerate(owners):
            out[:, ai] += energy[:, d] * mean_price
        return out

    got = np.stack([infos[a]["potential"] for a in venv.possible_agents], axis=1)
    np.testing.assert_allclose(got, expected(energy))
    # charge every battery for an hour: the potential follows the new state of charge
    acts = {a: np.zeros((2, venv.single_action_space(a).shape[0])) for a in venv.possible_agents}
    for d, ai in enumerate(owners):
        acts[venv.possible_agents[ai]][:, venv.ess.act[d] - _first_column(venv, ai)] = -1.0
    _, _, _, _, infos = venv.step(acts)
    after = np.stack([infos[a]["potential"] for a in venv.possible_agents], axis=1)
    np.testing.assert_allclose(after, expected(venv.soc * venv.ess.params["e_cap"]))
    assert np.all(after[:, np.unique(owners)] > got[:, np.unique(owners)])
    # shared rewards share the potential too: every agent sees the microgrids' mean
    shared = VectorMultiAgentMicrogrids({**config("ieee34_ieee13"), "share_reward": True}, 2)
    _, infos = shared.reset(seed=0)
    for a in shared.possible_agents:
        np.testing.assert_allclose(infos[a]["potential"], got.mean(axis=1))


def _first_column(venv: VectorMultiAgentMicrogrids, ai: int) -> int:
    """The first column of agent ``ai``'s actions in the env's joint action array."""
    sizes = [venv._native_act[a] for a in venv.possible_agents]
    return int(sum(sizes[:ai]))

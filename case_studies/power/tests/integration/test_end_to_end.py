"""End to end, with the real components: setup -> env -> training -> evaluation vs. oracle,
distributed over Redis vs. centralized, and the guide's custom-device recipe from config.

Run from ``case_studies/power`` as the user guide's Quick Start says::

    pytest tests/integration/ -v
"""

from __future__ import annotations

import copy
import math
import uuid
import warnings

import numpy as np
import pytest

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup


def test_setup_env_training_and_evaluation_against_the_oracle(tmp_path, ray_local):
    from heron.training import TrainConfig
    from heron.training.runner import train
    from powergrid.evaluation import evaluate
    from powergrid.training import env_config_for, make_env, parse_config

    env_config = env_config_for(parse_config(["--share-reward"]))
    env_config["max_episode_steps"] = 8
    cfg = TrainConfig(algo="mappo", iterations=1, train_batch_size=48, minibatch_size=24,
                      num_epochs=1, hidden_sizes=(16, 16), share_reward=True,
                      run_dir=str(tmp_path / "run"), tensorboard=False, no_cuda=True)
    result = train(cfg, make_env, env_config, log=lambda s: None)
    assert result.history[0]["env_steps"] >= 48

    df = evaluate("ieee34_ieee13", ["oracle", "rule", result.final_checkpoint], days=1,
                  out_dir=tmp_path / "eval", progress=False)
    assert set(df.error.fillna("")) == {""}, df.error.tolist()
    cost = df.set_index("policy")["total_cost"]
    assert len(cost) == 3 and all(math.isfinite(c) for c in cost)
    oracle = float(cost["oracle"])
    # the oracle is the lowest achievable cost on the same day (1 % for its relaxation)
    for policy, c in cost.items():
        assert c >= oracle - 0.01 * abs(oracle), (policy, c, oracle)
    gap = df.set_index("policy")["optimality_gap_pct"]
    assert gap["oracle"] == pytest.approx(0.0) and (gap.drop("oracle") >= -1.0).all()
    for name in ("results.csv", "results.md"):
        assert (tmp_path / "eval" / name).exists()


def test_a_test_day_over_redis_equals_the_centralized_run(redis_url, tmp_path):
    """Agent processes choose their own actions; the host's result equals a centralized
    replay of exactly the actions it applied (rewards and infos identical)."""
    from powergrid.distributed import DistributedEnvHost
    from powergrid.distributed.runner import launch_agents

    config = load_setup("ieee34_ieee13")
    config.update(train=False, max_episode_steps=24, message_broker="redis",
                  redis_url=redis_url)
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    host = DistributedEnvHost(config, namespace=namespace)
    procs = launch_agents(host.agent_ids, redis_url, namespace=namespace, policy="random:5",
                          log_dir=tmp_path, idle_timeout_s=60.0, run_secret=host.run_secret)
    try:
        host.wait_for_agents(timeout_s=60.0)
        distributed = host.run_episode(seed=2, options={"day": 3})
    finally:
        host.shutdown_agents()
        for p in procs:
            p.stop(timeout_s=10.0)
        host.close()
    assert len(distributed.rewards) == 24

    env = MultiAgentMicrogrids({**config, "centralized": True})
    obs, _ = env.reset(seed=2, options={"day": 3})
    for t, actions in enumerate(distributed.actions):
        obs, rewards, _, _, infos = env.step(actions)
        assert rewards == distributed.rewards[t], t
        assert infos == distributed.infos[t], t
        for a in obs:
            np.testing.assert_array_equal(obs[a], distributed.observations[t + 1][a])


def test_the_guides_custom_device_recipe_runs_from_config(guide_wind_turbine):
    """The user guide's Advanced Topic C recipe (conftest), registered as the guide does."""
    from powergrid.agents.registry import DEVICE_REGISTRY

    WindTurbine = guide_wind_turbine
    builtin = DEVICE_REGISTRY["WindTurbine"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # replacing the built-in type warns (tested elsewhere)
        DEVICE_REGISTRY["WindTurbine"] = WindTurbine
    try:
        config = copy.deepcopy(load_setup("ieee34_ieee13"))
        config["max_episode_steps"] = 6
        config["microgrid_configs"][1]["devices"].append(
            {"type": "WindTurbine", "name": "wt2",
             "device_state_config": {"bus": "Bus 675", "p_rated_MW": 0.5}})
        env = MultiAgentMicrogrids(config)
        wt = env.agent_dict["MG2"].devices["wt2"]
        assert isinstance(wt, WindTurbine)
        env.reset(seed=0)
        wind = env._exo["MG2"][2]  # this episode's wind capacity factors
        for t, curtail in enumerate([1.0, 0.5, 0.0, 1.0, 0.25, 0.75]):
            actions = {a: np.zeros(env.native_action_spaces[a].shape) for a in env.agents}
            actions["MG2"][-1] = curtail  # the recipe's device comes last in MG2's action
            _, _, _, _, infos = env.step(actions)
            available = float(wind[t]) * 0.5
            assert wt.available_power == pytest.approx(available)
            assert wt.state.electrical.p_MW == pytest.approx(available * curtail)
            assert wt.cost == pytest.approx((available - available * curtail) * 5.0)
            assert infos["MG2"]["converged"]
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DEVICE_REGISTRY["WindTurbine"] = builtin

"""Power glue for heron.training: CLI flags, env_config, spaces, one tiny training."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from powergrid.training import DEFAULT_SETUP, env_config_for, make_env, parse_config

POWER_DIR = Path(__file__).resolve().parents[2]


def test_every_flag_parses():
    cfg = parse_config(["--iterations", "4", "--num-workers", "1", "--wandb", "--wandb-project",
                        "pg", "--share-reward", "--no-cuda", "--setup", "ieee34_ieee13",
                        "--checkpoint-dir", "out", "--resume", "ck", "--seed", "9",
                        "--ray-address", "auto", "--algo", "mappo-cc", "--protocol", "setpoint"])
    assert (cfg.iterations, cfg.num_workers, cfg.wandb_project, cfg.seed) == (4, 1, "pg", 9)
    assert cfg.wandb and cfg.share_reward and cfg.no_cuda and cfg.algo == "mappo-cc"
    assert (cfg.checkpoint_dir, cfg.resume, cfg.ray_address) == ("out", "ck", "auto")
    assert parse_config(["--independent-policies"]).algo == "ippo"
    assert parse_config([]).setup == DEFAULT_SETUP
    assert parse_config(["--test"]).iterations == 3


@pytest.fixture(scope="module")
def power_env_config():
    pytest.importorskip("powergrid.envs.multi_agent_microgrids")
    cfg = parse_config(["--share-reward", "--protocol", "setpoint"])
    env_config = env_config_for(cfg)
    env_config["max_episode_steps"] = 8
    return env_config


def test_env_config_switches(power_env_config):
    assert power_env_config["train"] is True
    assert power_env_config["share_reward"] is True
    assert power_env_config["protocol"] == "setpoint"
    with pytest.raises(SystemExit, match="unknown --protocol"):
        env_config_for(parse_config(["--protocol", "carrier-pigeon"]))


def test_heterogeneous_microgrids_get_common_spaces(power_env_config):
    from heron.training.wrappers import wrap_for_algo

    env = make_env(power_env_config)
    native = {a: env.action_space(a).shape[0] for a in env.possible_agents}
    obs_dims = {a: env.observation_space(a).shape[0] for a in env.possible_agents}
    n = len(env.possible_agents)

    padded = wrap_for_algo(env, "mappo")
    spaces = [padded.action_space(a) for a in env.possible_agents]
    assert all(s == spaces[0] for s in spaces) and spaces[0].shape == (max(native.values()),)
    assert padded.observation_space("MG1").shape == (max(obs_dims.values()) + n,)

    cc = wrap_for_algo(make_env(power_env_config), "mappo-cc", share_reward=True)
    obs, _ = cc.reset(seed=0)
    state = np.asarray(cc.unwrapped.state())
    for a in env.possible_agents:
        np.testing.assert_array_equal(obs[a]["state"], state)
    obs, rew, term, trunc, infos = cc.step(
        {a: cc.action_space(a).sample() for a in cc.agents})
    assert "__all__" not in term and {"cost", "safety"} <= set(infos["MG1"])


def test_one_tiny_mappo_cc_iteration(power_env_config, tmp_path, ray_local):
    from heron.training import TrainConfig
    from heron.training.evaluate import load_policies, rollout
    from heron.training.runner import train

    cfg = TrainConfig(algo="mappo-cc", iterations=1, train_batch_size=48, minibatch_size=24,
                      num_epochs=1, hidden_sizes=(16, 16), share_reward=True,
                      run_dir=str(tmp_path / "run"), tensorboard=False, no_cuda=True)
    result = train(cfg, make_env, power_env_config, log=lambda s: None)
    row = result.history[0]
    assert row["env_steps"] >= 48 and np.isfinite(row["cost_mean"])
    policies = load_policies(result.final_checkpoint)
    assert set(policies) == {"MG1", "MG2", "MG3"}
    stats = rollout(make_env(power_env_config), policies, seed=0)
    assert 1 <= stats["steps"] <= 8     # the env may truncate early on power-flow failure


@pytest.mark.slow
def test_example_script_test_mode(tmp_path):
    """The documented quick start: `python examples/05_mappo_training.py --test`."""
    pytest.importorskip("powergrid.envs.multi_agent_microgrids")
    out = subprocess.run(
        [sys.executable, "examples/05_mappo_training.py", "--test", "--checkpoint-dir",
         str(tmp_path)],
        cwd=POWER_DIR, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("| violation rate") == 3
    run_dir = Path(out.stdout.split("Run folder: ")[-1].strip())
    assert run_dir.parent == tmp_path and run_dir.name.startswith("mappo-")
    for name in ("config.json", "metrics.csv", "learning_curve.png",
                 "checkpoints/final/heron_policy.json"):
        assert (run_dir / name).exists(), name


def test_one_tiny_iteration_with_p2p_trading(power_env_config, tmp_path, ray_local):
    """`--protocol p2p`: the price action joins the action space and training runs."""
    from heron.training import TrainConfig
    from heron.training.runner import train

    config = {**power_env_config, "protocol": "p2p"}
    for mg in config["microgrid_configs"]:
        mg["sell_price_ratio"] = 0.5
    assert make_env(config).action_space("MG3").shape == (2,)
    cfg = TrainConfig(algo="mappo", iterations=1, train_batch_size=48, minibatch_size=24,
                      num_epochs=1, hidden_sizes=(16, 16), run_dir=str(tmp_path / "run"),
                      tensorboard=False, no_cuda=True)
    result = train(cfg, make_env, config, log=lambda s: None)
    assert result.history[0]["env_steps"] >= 48

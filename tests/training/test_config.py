"""TrainConfig, the CLI flags and the RLlib config built for each algorithm.

Building a PPOConfig and the RLModules needs no running Ray, so these are fast.
"""

import sys

import pytest

from heron.training.cli import build_parser, config_from_args
from heron.training.config import TrainConfig
from heron.training.toy_env import make_toy_env


def test_import_heron_training_does_not_import_ray():
    import subprocess
    code = ("import sys, heron, heron.training, heron.training.config, heron.training.wrappers, "
            "heron.training.cli\nprint([m for m in ('ray', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_config_validation_and_round_trip(tmp_path):
    with pytest.raises(ValueError, match="algo must be one of"):
        TrainConfig(algo="qmix")
    with pytest.raises(ValueError, match="minibatch_size"):
        TrainConfig(train_batch_size=64, minibatch_size=128)
    cfg = TrainConfig(algo="mappo-cc", lr=1e-3, hidden_sizes=[16, 8], protocol="p2p")
    cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == cfg
    assert cfg.shared_policy and cfg.centralized_critic
    assert not TrainConfig(algo="ippo").shared_policy


def _parse(*argv):
    return config_from_args(build_parser().parse_args(list(argv)))


def test_cli_flags():
    cfg = _parse("--iterations", "7", "--num-workers", "1", "--wandb", "--wandb-project", "p",
                 "--share-reward", "--no-cuda", "--setup", "s", "--checkpoint-dir", "d",
                 "--resume", "ck", "--seed", "3", "--ray-address", "127.0.0.1:1",
                 "--protocol", "setpoint", "--algo", "mappo-cc")
    assert (cfg.iterations, cfg.num_workers, cfg.wandb, cfg.wandb_project) == (7, 1, True, "p")
    assert cfg.share_reward and cfg.no_cuda and cfg.algo == "mappo-cc"
    assert (cfg.setup, cfg.checkpoint_dir, cfg.resume, cfg.seed) == ("s", "d", "ck", 3)
    assert (cfg.ray_address, cfg.protocol) == ("127.0.0.1:1", "setpoint")
    assert _parse().algo == "mappo"
    assert _parse("--independent-policies").algo == "ippo"
    with pytest.raises(SystemExit, match="independent-policies"):
        _parse("--independent-policies", "--algo", "mappo")


def test_cli_test_mode_is_small_but_explicit_flags_win():
    cfg = _parse("--test")
    assert cfg.iterations == 3 and cfg.train_batch_size <= 256
    assert _parse("--test", "--iterations", "5").iterations == 5
    assert _parse("--train-batch-size", "100").minibatch_size == 100  # clamped, not an error


@pytest.mark.parametrize("algo", ["mappo", "ippo", "mappo-cc"])
def test_build_config_policies_and_mapping(algo):
    pytest.importorskip("ray")
    from heron.training.rllib import SHARED_POLICY_ID, build_config

    cfg = TrainConfig(algo=algo, train_batch_size=64, minibatch_size=32, seed=5)
    config, meta = build_config(make_toy_env, {"max_episode_steps": 5}, cfg)
    agents = ["house1", "house2"]
    modules = {config.policy_mapping_fn(a, None) for a in agents}
    if algo == "ippo":
        assert modules == set(agents) == set(config.policies)
        assert meta["pad_spec"] is None
    else:
        assert modules == {SHARED_POLICY_ID} == set(config.policies)
        assert meta["pad_spec"]["act_dim"] == 2
    assert meta["agent_to_module"] == {a: config.policy_mapping_fn(a, None) for a in agents}
    assert config.num_env_runners == 0 and config.num_learners == 0
    assert config.seed == 5 and config.enable_rl_module_and_learner
    assert config.train_batch_size_per_learner == 64 and config.minibatch_size == 32
    spec = config.rl_module_spec
    assert set(spec.rl_module_specs) == modules
    if algo == "mappo-cc":
        from heron.training.modules import CentralizedCriticTorchModule
        assert spec.rl_module_specs[SHARED_POLICY_ID].module_class is CentralizedCriticTorchModule
    if algo == "ippo":  # native, differently sized action spaces per agent
        assert spec.rl_module_specs["house1"].action_space.shape == (1,)
        assert spec.rl_module_specs["house2"].action_space.shape == (2,)


def test_env_config_gets_protocol_and_share_reward():
    pytest.importorskip("ray")
    from heron.training.rllib import build_config

    cfg = TrainConfig(share_reward=True, protocol="setpoint", train_batch_size=64,
                      minibatch_size=32)
    config, _ = build_config(make_toy_env, {"max_episode_steps": 5}, cfg)
    assert config.env_config["share_reward"] is True
    assert config.env_config["protocol"] == "setpoint"
    assert config.env_config["max_episode_steps"] == 5

"""The pickle-free policy format (heron.training.safe_policy) against RLlib itself.

One tiny training per module layout heron.training produces (shared policy, one
module per agent, centralised critic); each checkpoint must carry the safe files,
load without unpickling and act exactly like RLlib's module does.
"""

import json
import logging
import shutil

import numpy as np
import pytest

from heron.testing.no_pickle import UnpicklingForbidden, forbid_unpickling
from heron.training.config import TrainConfig
from heron.training.toy_env import ToyRooms, make_toy_env

ENV = {"max_episode_steps": 8}
N_OBS = 200


@pytest.fixture(scope="module", params=["mappo", "ippo", "mappo-cc"])
def trained(request, tmp_path_factory, ray_local):
    from heron.training.runner import train

    tmp = tmp_path_factory.mktemp(request.param)
    cfg = TrainConfig(algo=request.param, iterations=1, train_batch_size=64, minibatch_size=32,
                      num_epochs=1, hidden_sizes=(16, 16), run_dir=str(tmp / "run"),
                      no_cuda=True, tensorboard=False, checkpoint_every=1)
    return request.param, train(cfg, make_toy_env, ENV, log=lambda s: None)


def rllib_policies(ckpt, deterministic=True):
    """RLlib's own modules (unpickled: our own fresh checkpoint) as the reference."""
    from heron.training.evaluate import RLlibPolicy, load_metadata, load_module

    meta = load_metadata(ckpt)
    return {a: RLlibPolicy(ckpt, a, deterministic, _module=load_module(ckpt, m), _metadata=meta)
            for a, m in meta["agent_to_module"].items()}


def observations(agent, n=N_OBS, seed=0):
    """``n`` real observations of ``agent`` (random actions, several episodes) and
    ``n`` random vectors of the same size, scaled well beyond the real range."""
    env = ToyRooms(ENV)
    rng = np.random.default_rng(seed)
    real = []
    obs, _ = env.reset(seed=seed)
    while len(real) < n:
        real.append(obs[agent])
        obs, _, _, _, _ = env.step({a: env.action_space(a).sample() for a in env.agents})
        if not env.agents:
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
    dim = np.asarray(real[0]).shape[0]
    fake = list(rng.normal(0.0, 5.0, (n, dim)).astype(np.float32))
    return real + fake


def without_safe_files(ckpt, dst):
    from heron.training.safe_policy import ACTOR_FILE, WEIGHTS_FILE

    shutil.copytree(ckpt, dst)
    (dst / ACTOR_FILE).unlink()
    (dst / WEIGHTS_FILE).unlink()
    return dst


def test_every_checkpoint_has_the_safe_format(trained):
    from heron.training.safe_policy import ACTOR_FILE, has_safe_policy

    algo, result = trained
    assert len(result.checkpoints) == 2                    # iter_0001 and final
    for ckpt in result.checkpoints:
        assert has_safe_policy(ckpt)
        assert (ckpt / "learner_group").is_dir()           # RLlib's files stay for --resume
        spec = json.loads((ckpt / ACTOR_FILE).read_text())
        meta = json.loads((ckpt / "heron_policy.json").read_text())
        assert set(spec["modules"]) == set(meta["agent_to_module"].values())
        for desc in spec["modules"].values():
            assert desc["log_std"] == ("free" if algo == "mappo-cc" else "output")


def test_safe_actions_equal_rllib_actions(trained, caplog):
    from heron.training.evaluate import load_policies
    from heron.training.safe_policy import SafePolicy

    algo, result = trained
    ckpt = result.final_checkpoint
    with caplog.at_level(logging.WARNING, logger="heron.training.evaluate"):
        safe = load_policies(ckpt)
    assert not caplog.records                              # no unpickling warning
    assert all(isinstance(p, SafePolicy) for p in safe.values())
    ref = rllib_policies(ckpt)
    assert set(safe) == set(ref) == set(ToyRooms(ENV).possible_agents)
    env = ToyRooms(ENV)
    for agent in safe:
        for obs in observations(agent):
            a_safe, a_ref = safe[agent](obs), ref[agent](obs)
            assert a_safe.dtype == a_ref.dtype and a_safe.shape == a_ref.shape
            np.testing.assert_allclose(a_safe, a_ref, rtol=0, atol=1e-6)
        # the full Gaussian too (mean and log std), not just its mean
        obs = observations(agent, n=1)[0]
        np.testing.assert_allclose(safe[agent].dist_inputs(obs).numpy(),
                                   ref[agent].dist_inputs(obs).numpy(), rtol=0, atol=1e-6)
        assert env.action_space(agent).contains(safe[agent](obs))


def test_sampling_matches_rllib_under_the_same_seed(trained):
    import torch

    from heron.training.evaluate import load_policies

    _, result = trained
    safe = load_policies(result.final_checkpoint, deterministic=False)
    ref = rllib_policies(result.final_checkpoint, deterministic=False)
    for agent in safe:
        obs = observations(agent, n=1)[0]
        torch.manual_seed(3)
        a = safe[agent](obs)
        torch.manual_seed(3)
        np.testing.assert_allclose(a, ref[agent](obs), rtol=0, atol=1e-6)
        assert not np.array_equal(a, safe[agent](obs))     # it really samples


def test_loading_the_safe_format_never_unpickles(trained, tmp_path):
    from heron.training.evaluate import load_policies
    from heron.training.safe_policy import export_safe_policy

    _, result = trained
    ckpt = result.final_checkpoint
    obs, _ = ToyRooms(ENV).reset(seed=0)
    with forbid_unpickling():
        policies = load_policies(ckpt)
        actions = {a: p(obs[a]) for a, p in policies.items()}
        # re-exporting a checkpoint that already has the safe files copies them
        out = export_safe_policy(ckpt, tmp_path / "copy")
        assert sorted(p.name for p in out.iterdir()) == [
            "heron_actor.json", "heron_actor.safetensors", "heron_policy.json"]
        copied = load_policies(out)
    for a, act in actions.items():
        np.testing.assert_array_equal(act, copied[a](obs[a]))
    # The guard is real: RLlib's own loading trips it.
    legacy = without_safe_files(ckpt, tmp_path / "legacy")
    with forbid_unpickling(), pytest.raises(UnpicklingForbidden):
        load_policies(legacy)


def test_rllib_only_checkpoint_warns_refuses_and_converts(trained, tmp_path, caplog):
    from heron.training.evaluate import PickleRefusedError, RLlibPolicy, load_policies
    from heron.training.safe_policy import SafePolicy, export_safe_policy

    _, result = trained
    legacy = without_safe_files(result.final_checkpoint, tmp_path / "legacy")
    with pytest.raises(PickleRefusedError, match="export_safe_policy"):
        load_policies(legacy, allow_pickle=False)
    with caplog.at_level(logging.WARNING, logger="heron.training.evaluate"):
        old = load_policies(legacy)
    assert any("UNPICKLES" in r.getMessage() for r in caplog.records)
    assert all(isinstance(p, RLlibPolicy) for p in old.values())

    out = export_safe_policy(legacy, tmp_path / "converted")   # unpickles once, by request
    assert not (out / "learner_group").exists()
    with forbid_unpickling():
        new = load_policies(out, allow_pickle=False)
    assert all(isinstance(p, SafePolicy) for p in new.values())
    for agent in new:
        for obs in observations(agent, n=50):
            np.testing.assert_allclose(new[agent](obs), old[agent](obs), rtol=0, atol=1e-6)


def test_broken_or_mismatched_files_are_refused(trained, tmp_path):
    from heron.training.safe_policy import (
        ACTOR_FILE,
        WEIGHTS_FILE,
        SafeFormatError,
        load_safe_policies,
    )

    _, result = trained
    ckpt = shutil.copytree(result.final_checkpoint, tmp_path / "ck")
    spec_text = (ckpt / ACTOR_FILE).read_text()
    spec = json.loads(spec_text)

    weights = (ckpt / WEIGHTS_FILE).read_bytes()
    (ckpt / WEIGHTS_FILE).write_bytes(weights[:-4] + b"\0\0\0\0")
    with pytest.raises(SafeFormatError, match="SHA-256"):
        load_safe_policies(ckpt)
    (ckpt / WEIGHTS_FILE).write_bytes(weights)

    mid = next(iter(spec["modules"]))
    bad = json.loads(spec_text)
    bad["modules"][mid]["layers"][1] = {"type": "exec"}
    (ckpt / ACTOR_FILE).write_text(json.dumps(bad))
    with pytest.raises(SafeFormatError, match="unknown layer type 'exec'"):
        load_safe_policies(ckpt)

    bad = json.loads(spec_text)
    bad["modules"][mid]["layers"][0]["out"] += 1
    (ckpt / ACTOR_FILE).write_text(json.dumps(bad))
    with pytest.raises(SafeFormatError, match="do not fit"):
        load_safe_policies(ckpt)

    bad = json.loads(spec_text)
    bad["version"] = 99
    (ckpt / ACTOR_FILE).write_text(json.dumps(bad))
    with pytest.raises(SafeFormatError, match="version 99"):
        load_safe_policies(ckpt)


def test_resume_help_says_it_unpickles():
    from heron.training.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "--resume CKPT" in text and "UNPICKLES them" in text


def _rllib_ppo_module(model_config):
    from gymnasium.spaces import Box
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    return RLModuleSpec(module_class=DefaultPPOTorchRLModule,
                        observation_space=Box(-1, 1, (5,), np.float32),
                        action_space=Box(-1, 1, (2,), np.float32),
                        model_config=model_config).build()


@pytest.mark.parametrize("model_config", [
    {"vf_share_layers": True, "fcnet_hiddens": [8, 8]},
    {"free_log_std": True, "fcnet_hiddens": [8]},
    {"fcnet_activation": "relu", "fcnet_hiddens": [8, 8], "fcnet_use_layernorm": True},
    {"fcnet_activation": "swish", "head_fcnet_hiddens": [5], "head_fcnet_activation": "elu"},
])
def test_other_rllib_mlp_layouts_export_exactly(model_config, tmp_path):
    """Layouts heron.training does not build by default still round-trip exactly."""
    import torch

    from heron.training.evaluate import module_dist_inputs
    from heron.training.safe_policy import load_safe_actors, write_safe_policy

    module = _rllib_ppo_module(model_config)
    write_safe_policy({"p": module}, {"agent_to_module": {"a": "p"}}, tmp_path)
    actor = load_safe_actors(tmp_path)["p"]
    x = torch.from_numpy(np.random.default_rng(1).normal(0, 3, (N_OBS, 5)).astype(np.float32))
    with torch.no_grad():
        np.testing.assert_allclose(actor(x).numpy(), module_dist_inputs(module, x, False).numpy(),
                                   rtol=0, atol=1e-6)


def test_an_actor_the_format_cannot_describe_keeps_the_rllib_checkpoint(tmp_path, caplog):
    from types import SimpleNamespace

    from heron.training.rllib import _save_safe_policy
    from heron.training.safe_policy import SafeExportError, has_safe_policy, write_safe_policy

    lstm = _rllib_ppo_module({"use_lstm": True})
    with pytest.raises(SafeExportError, match="recurrent"):
        write_safe_policy({"p": lstm}, {"agent_to_module": {"a": "p"}}, tmp_path / "direct")
    # what save_checkpoint does with it: a warning, and no half-written safe files
    algo = SimpleNamespace(learner_group=SimpleNamespace(_learner=SimpleNamespace(
        module={"p": lstm})))
    with caplog.at_level(logging.WARNING, logger="heron.training.rllib"):
        _save_safe_policy(algo, {"agent_to_module": {"a": "p"}}, tmp_path)
    assert not has_safe_policy(tmp_path) and not any(tmp_path.glob("heron_actor*"))
    assert any("no pickle-free policy" in r.getMessage() for r in caplog.records)

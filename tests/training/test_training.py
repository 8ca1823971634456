"""Tiny end-to-end trainings on the toy env (one shared local Ray).

Each run is one iteration of 64 env steps: it proves the wiring (wrappers, modules,
callbacks, run folder, checkpoints), not learning; see test_slow.py for that.
"""

import csv
import json
import math
import sys

import numpy as np
import pytest

from heron.training.config import TrainConfig
from heron.training.toy_env import ToyRooms, make_toy_env

ENV = {"max_episode_steps": 8}


def tiny(tmp_path, **kw):
    base = dict(iterations=1, train_batch_size=64, minibatch_size=32, num_epochs=1,
                hidden_sizes=(16, 16), run_dir=str(tmp_path / "run"), no_cuda=True)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("algo", ["mappo", "ippo", "mappo-cc"])
def test_one_iteration_writes_run_folder(algo, tmp_path, ray_local, monkeypatch):
    from heron.training import modules
    from heron.training.runner import train

    seen = []

    class RecordingCritic(modules.CentralizedCriticTorchModule):
        def compute_values(self, batch, embeddings=None):
            seen.append({k: v.detach().cpu().numpy().copy() for k, v in batch["obs"].items()})
            return super().compute_values(batch, embeddings)

    monkeypatch.setattr(modules, "CentralizedCriticTorchModule", RecordingCritic)
    lines = []
    result = train(tiny(tmp_path, algo=algo), make_toy_env, ENV, log=lines.append)

    run = result.run_dir
    assert [r["iteration"] for r in result.history] == [1]
    row = result.history[0]
    assert row["env_steps"] >= 64
    for key in ("episode_return_mean", "cost_mean", "violation_rate"):
        assert math.isfinite(row[key]), key
    assert 0.0 <= row["violation_rate"] <= 1.0 and row["cost_mean"] > 0
    assert any(line.startswith("iter    1 | env steps") and "violation rate" in line
               for line in lines)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["algo"] == algo and cfg["env_config"]["max_episode_steps"] == 8
    with open(run / "metrics.csv") as f:
        assert len(list(csv.DictReader(f))) == 1
    assert (run / "learning_curve.png").stat().st_size > 1000
    assert any((run / "tensorboard").iterdir())
    ckpt = result.final_checkpoint
    assert ckpt == run / "checkpoints" / "final"
    meta = json.loads((ckpt / "heron_policy.json").read_text())
    assert meta["algo"] == algo

    # The checkpoint acts as one heron Policy per agent, in the agent's native spaces.
    from heron.training.evaluate import load_policies

    env = ToyRooms(ENV)
    obs, _ = env.reset(seed=0)
    for agent, policy in load_policies(ckpt).items():
        assert env.action_space(agent).contains(policy(obs[agent]))

    if algo == "mappo-cc":
        # The critic really got the global state during GAE and the PPO loss ...
        assert seen, "compute_values was never called"
        state_dim = ToyRooms().state().shape[0] + 2
        for b in seen:
            assert b["state"].shape[-1] == state_dim and b["obs"].shape[-1] == 6
            # ... row-aligned with the acting agent's observation: the one-hot ids match
            # and house1's room (state[0:2]) is what house1 observed (obs[0:2]).
            np.testing.assert_array_equal(b["state"][:, -2:], b["obs"][:, -2:])
            h1 = b["obs"][:, 4] == 1
            np.testing.assert_allclose(b["state"][h1, 0:2], b["obs"][h1, 0:2])


def test_checkpoint_resume_and_policy_round_trip(tmp_path, ray_local):
    import torch

    from heron.training.evaluate import RLlibPolicy, load_module, load_policies, rollout
    from heron.training.rllib import build_algorithm
    from heron.training.runner import train

    first = train(tiny(tmp_path / "a"), make_toy_env, ENV, log=lambda s: None)
    ckpt = first.final_checkpoint

    # Restoring really restores the weights.
    cfg = tiny(tmp_path / "b")
    algo = build_algorithm(make_toy_env, ENV, cfg)
    try:
        algo.restore_from_path(str(ckpt))
        assert algo.iteration == 1
        live = algo.learner_group._learner.module["shared_policy"]
        saved = load_module(ckpt, "shared_policy")
        for (k, v), (k2, v2) in zip(live.state_dict().items(), saved.state_dict().items(),
                                    strict=True):
            assert k == k2 and torch.equal(v.cpu(), v2.cpu())
        env = ToyRooms(ENV)
        obs, _ = env.reset(seed=0)
        from_ckpt = load_policies(ckpt)
        from_live = RLlibPolicy(ckpt, "house2", _module=live)
        np.testing.assert_allclose(from_ckpt["house2"](obs["house2"]), from_live(obs["house2"]))
    finally:
        algo.stop()

    # Checkpoint -> heron Policy per agent, in each agent's own action space.
    for agent, policy in from_ckpt.items():
        a = policy(obs[agent])
        assert env.action_space(agent).contains(a)
        np.testing.assert_array_equal(a, policy(obs[agent]))        # deterministic
    stats = rollout(ToyRooms(ENV), from_ckpt, seed=0)
    assert stats["steps"] == 8 and 0 <= stats["violation_rate"] <= 1

    # --resume continues the iteration count in a new run folder.
    resumed = train(tiny(tmp_path / "c", resume=str(ckpt)), make_toy_env, ENV,
                    log=lambda s: None)
    assert [r["iteration"] for r in resumed.history] == [2]
    assert resumed.history[0]["env_steps"] > first.history[0]["env_steps"]


def test_resume_with_other_algo_is_refused(tmp_path):
    from heron.training.runner import train

    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "heron_policy.json").write_text(json.dumps({"algo": "ippo"}))
    with pytest.raises(ValueError, match="--algo ippo"):
        train(tiny(tmp_path, resume=str(tmp_path / "ck")), make_toy_env, ENV)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(tiny(tmp_path, resume=str(tmp_path / "nope")), make_toy_env, ENV)


def test_missing_wandb_says_how_to_install(tmp_path, monkeypatch, capsys):
    from heron.training.cli import run_cli
    from heron.training.runner import WandbMissingError, train

    monkeypatch.setitem(sys.modules, "wandb", None)    # makes `import wandb` fail
    with pytest.raises(WandbMissingError, match="pip install wandb"):
        train(tiny(tmp_path, wandb=True), make_toy_env, ENV)
    with pytest.raises(SystemExit, match="pip install wandb"):
        run_cli(["--test", "--wandb", "--run-dir", str(tmp_path / "r")], make_toy_env,
                lambda cfg: dict(ENV))
    assert not (tmp_path / "run").exists()     # failed before creating anything


def test_same_seed_same_learning_curve(tmp_path, ray_local):
    from heron.training.runner import train

    def run(seed, name):
        cfg = tiny(tmp_path / name, algo="mappo-cc", iterations=2, seed=seed, tensorboard=False)
        return train(cfg, make_toy_env, ENV, log=lambda s: None).returns

    a, b, c = run(7, "a"), run(7, "b"), run(8, "c")
    assert a == b and a != c


def test_wandb_logging_when_installed(tmp_path, ray_local, monkeypatch):
    """wandb itself is optional; a stand-in module checks what train() sends it."""
    import types

    from heron.training.runner import train

    calls = {"init": [], "log": [], "finish": 0}

    class Run:
        def finish(self):
            calls["finish"] += 1

    fake = types.ModuleType("wandb")
    fake.init = lambda **kw: calls["init"].append(kw) or Run()
    fake.log = lambda data, step=None: calls["log"].append((step, data))
    monkeypatch.setitem(sys.modules, "wandb", fake)

    train(tiny(tmp_path, wandb=True, wandb_project="proj", tensorboard=False), make_toy_env,
          ENV, log=lambda s: None)
    assert calls["init"][0]["project"] == "proj"
    step, data = calls["log"][0]
    assert step == 1 and {"episode_return_mean", "cost_mean", "violation_rate"} <= set(data)
    assert calls["finish"] == 1

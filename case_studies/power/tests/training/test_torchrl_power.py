"""``--trainer torchrl`` on the power case study: VectorMultiAgentMicrogrids behind the
TorchRL adapter, through the same CLI as the RLlib path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl")
pytest.importorskip("lightsim2grid")

from heron.training.config import TrainConfig  # noqa: E402
from powergrid.training import (  # noqa: E402
    TORCHRL_TRAIN_DEFAULTS,
    TRAIN_SAFETY_PENALTY,
    env_config_for,
    main,
    make_vector_env,
    parse_config,
)

torch.set_num_threads(1)


def test_parse_config_uses_the_torchrl_defaults() -> None:
    cfg = parse_config(["--trainer", "torchrl"])
    assert cfg.trainer == "torchrl"
    for k, v in TORCHRL_TRAIN_DEFAULTS.items():
        assert getattr(cfg, k) == v, k
    assert cfg.normalize_obs and cfg.reward_scale == 0.01       # shared with RLlib's
    rllib = parse_config([])
    assert rllib.trainer == "rllib" and rllib.num_envs_per_worker == 4


def test_train_cli_smoke(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = main(["--trainer", "torchrl", "--test", "--iterations", "1", "--algo", "mappo-cc",
                   "--run-dir", str(run), "--quiet", "--no-tensorboard"])
    assert Path(result.run_dir) == run.resolve()
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["env_steps"]) == 8 * 24   # --test: 8 copies
    config = json.loads((run / "config.json").read_text())
    assert config["trainer"] == "torchrl"
    assert config["env_config"]["penalty"] >= TRAIN_SAFETY_PENALTY  # the training penalty
    meta = json.loads((run / "checkpoints" / "final" / "heron_torchrl.json").read_text())
    assert meta["agents"] == ["MG1", "MG2", "MG3"] and meta["obs_norm"] is not None
    assert (run / "learning_curve.png").is_file()

    # heron-power evaluate's pipeline takes the TorchRL checkpoint (run folder or final/)
    from powergrid.evaluate_checkpoint import resolve_checkpoint
    from powergrid.evaluation import run_policies

    final = resolve_checkpoint(run)
    assert final == (run / "checkpoints" / "final").resolve()
    df, _ = run_policies("ieee34_ieee13", ["zero", final], days=1)
    assert set(df.error.fillna("")) == {""}, df.error.tolist()
    assert df.total_cost.notna().all() and len(df) == 2


def test_padded_action_entries_change_nothing() -> None:
    """MG3 owns one device with a p set-point: the other entries of its padded action
    must not reach MG1's or MG2's devices (nor its own)."""
    env_config = env_config_for(TrainConfig())
    traces = []
    for pad in (-1.0, 1.0):
        venv = make_vector_env(env_config, 2)
        venv.reset(seed=0)
        act_dim = venv.single_action_space("MG3").shape[0]
        native = venv._native_act["MG3"]
        assert native < act_dim
        trace = []
        for _ in range(3):
            acts = {a: np.full((2, venv.single_action_space(a).shape[0]), 0.3, np.float32)
                    for a in venv.possible_agents}
            acts["MG3"][:, native:] = pad
            obs, rew, *_ = venv.step(acts)
            trace.append([*(obs[a] for a in venv.possible_agents),
                          *(rew[a] for a in venv.possible_agents), venv.state()])
        traces.append(trace)
    for a, b in zip(*traces):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_critic_input_is_the_vector_state() -> None:
    from heron.training.torchrl.trainer import build_learner

    venv = make_vector_env(env_config_for(TrainConfig()), 2)
    learner = build_learner(TrainConfig(algo="mappo-cc", hidden_sizes=(8,)), venv, None)
    td = learner.env.reset()
    from heron.testing.layer_inputs import first_linear_inputs

    seen = first_linear_inputs(learner.critic, td)
    assert len(seen) == 1
    assert torch.equal(seen[0], torch.as_tensor(venv.state()))
    assert td.get(("agents", "state_value")).shape == (2, 3, 1)

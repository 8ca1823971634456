"""`bash tests/test_train_mappo.sh`, the user guide's training verification.

The default suite runs the script's smoke mode (``HERON_TRAIN_SMOKE=1``: one
iteration on 48 env steps, same pipeline and same checks); the full ``--test`` run
is ``slow``. Also here: the power case study's training defaults the script relies
on (reward scaling, observation normalisation, one-day episodes), checked without Ray.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
POWER_DIR = REPO / "case_studies" / "power"
SCRIPT = POWER_DIR / "tests" / "test_train_mappo.sh"


def _run_script(out_dir: Path, smoke: bool, timeout: float) -> tuple[subprocess.CompletedProcess,
                                                                     float]:
    if shutil.which("bash") is None:
        pytest.skip("bash not available")
    pytest.importorskip("ray")
    pytest.importorskip("powergrid.envs.multi_agent_microgrids")
    env = dict(os.environ, HERON_TRAIN_SMOKE="1" if smoke else "0")
    # Same interpreter as the test run, whatever venv that is.
    env["PYTHON"] = os.environ.get("PYTHON", __import__("sys").executable)
    t0 = time.perf_counter()
    # as the user guide runs it: `bash tests/test_train_mappo.sh` from case_studies/power
    out = subprocess.run(["bash", str(SCRIPT.relative_to(POWER_DIR)), str(out_dir)],
                         capture_output=True, text=True, timeout=timeout, env=env, cwd=POWER_DIR)
    return out, time.perf_counter() - t0


def _run_folder(stdout: str) -> Path:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("[test_train_mappo] run folder:"))
    return Path(line.split(":", 1)[1].strip())


def test_script_smoke_mode(tmp_path):
    """One real iteration through the script: run folder, checkpoint and plot exist."""
    out, _ = _run_script(tmp_path, smoke=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.strip().endswith("PASS")
    run = _run_folder(out.stdout)
    assert run.parent == tmp_path
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["env_steps"]) >= 48
    meta = json.loads((run / "checkpoints" / "final" / "heron_policy.json").read_text())
    assert meta["reward_scale"] == pytest.approx(0.01) and meta["obs_norm"] is not None


def test_script_fails_loudly_without_a_run(tmp_path):
    """A broken interpreter must make the script fail, not print PASS."""
    if shutil.which("bash") is None:
        pytest.skip("bash not available")
    env = dict(os.environ, PYTHON="false", HERON_TRAIN_SMOKE="1")
    out = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                         timeout=60, env=env, cwd=REPO)
    assert out.returncode != 0 and "PASS" not in out.stdout
    assert "FAIL" in out.stderr


@pytest.mark.slow
def test_script_full_test_mode_under_three_minutes(tmp_path):
    """The documented `--test` run: 3 iterations, every one on fresh samples, < 3 min."""
    out, seconds = _run_script(tmp_path, smoke=False, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert seconds < 180, f"--test took {seconds:.0f}s"
    with open(_run_folder(out.stdout) / "metrics.csv") as f:
        steps = [float(r["env_steps"]) for r in csv.DictReader(f)]
    assert len(steps) == 3 and all(b > a for a, b in zip([0.0, *steps], steps))


# -- the training defaults behind the script (no Ray) ------------------------------------

def test_power_training_defaults_reach_the_config():
    from powergrid.training import TRAIN_DEFAULTS, env_config_for, parse_config

    cfg = parse_config([])
    assert cfg.reward_scale == TRAIN_DEFAULTS["reward_scale"] and cfg.normalize_obs
    assert cfg.train_batch_size == TRAIN_DEFAULTS["train_batch_size"]
    test = parse_config(["--test"])
    assert test.iterations == 3 and test.train_batch_size <= 256   # --test shrinks sizes ...
    assert test.reward_scale == cfg.reward_scale and test.normalize_obs  # ... not the recipe
    explicit = parse_config(["--reward-scale", "1", "--no-normalize-obs", "--lr", "1e-3",
                             "--hidden-sizes", "8", "8", "--max-minutes", "2"])
    assert (explicit.reward_scale, explicit.normalize_obs, explicit.lr) == (1.0, False, 1e-3)
    assert explicit.hidden_sizes == (8, 8) and explicit.max_time_s == 120.0
    pytest.importorskip("powergrid.envs.multi_agent_microgrids")
    env_config = env_config_for(cfg)
    assert env_config["max_episode_steps"] == 24 and env_config["penalty"] >= 10.0


def test_observation_normalisation_and_reward_scale_wrappers():
    from heron.training.toy_env import ToyRooms
    from heron.training.wrappers import (
        ScaleReward,
        normalize_observation,
        observation_stats,
        wrap_for_algo,
    )

    env_config = {"max_episode_steps": 6}
    stats = observation_stats(ToyRooms(env_config), steps=60, seed=0)
    assert set(stats["agents"]) == {"house1", "house2"} and stats["state"] is not None
    json.dumps(stats)                                   # travels in heron_policy.json

    # Normalised local obs (then padded) for the actor, normalised state for the critic.
    raw, env = ToyRooms(env_config), wrap_for_algo(ToyRooms(env_config), "mappo-cc",
                                                   obs_stats=stats)
    obs_raw, _ = raw.reset(seed=1)
    obs, _ = env.reset(seed=1)
    for a in raw.possible_agents:
        norm = normalize_observation(stats, a, obs_raw[a])
        np.testing.assert_allclose(obs[a]["obs"][: norm.shape[0]], norm, rtol=1e-6)
        assert np.all(np.abs(obs[a]["obs"]) <= stats["clip"])
    state = (raw.state() - np.asarray(stats["state"]["mean"])) / np.asarray(stats["state"]["std"])
    np.testing.assert_allclose(obs["house1"]["state"][: state.shape[0]], state, rtol=1e-5,
                               atol=1e-6)

    # Rewards are scaled; the costs in infos (the metrics) are not.
    raw, scaled = ToyRooms(env_config), ScaleReward(ToyRooms(env_config), 0.5)
    raw.reset(seed=2)
    scaled.reset(seed=2)
    actions = {a: raw.action_space(a).sample() for a in raw.agents}
    _, r_raw, _, _, i_raw = raw.step(actions)
    _, r_scaled, _, _, i_scaled = scaled.step(actions)
    for a in raw.possible_agents:
        assert r_scaled[a] == pytest.approx(0.5 * r_raw[a])
        assert i_scaled[a]["cost"] == i_raw[a]["cost"]
    with pytest.raises(ValueError, match="reward scale"):
        ScaleReward(ToyRooms(env_config), 0.0)

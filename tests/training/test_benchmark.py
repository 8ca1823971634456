"""heron-power benchmark: seeds trained, evaluated with the baselines, leaderboard written.

Two tiny real trainings (1 iteration each); the numbers are meaningless, the
seeds' pooling, the intervals and the files are what is checked.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("powergrid.envs.multi_agent_microgrids")

TINY = ["--iterations", "1", "--train-batch-size", "48", "--minibatch-size", "24",
        "--num-epochs", "1", "--hidden-sizes", "16", "16", "--num-envs-per-worker", "1",
        "--no-cuda"]


def test_benchmark_pools_seeds_and_writes_the_leaderboard(tmp_path, ray_local):
    from powergrid.benchmark import publish, run_benchmark

    out = tmp_path / "bench"
    res = run_benchmark("ieee34_ieee13", out, algos=["mappo"], seeds=2, minutes=5.0, days=1,
                        baselines=["oracle", "rule", "zero"], train_args=TINY,
                        log=lambda s: None)
    board = {r["policy"]: r for r in res["leaderboard"]}
    assert set(board) == {"oracle", "rule", "zero", "mappo"}
    learnt = board["mappo"]
    assert learnt["kind"] == "learnt" and learnt["seeds"] == 2
    assert len(learnt["seed_costs"]) == 2
    assert learnt["mean_cost_per_day"] == pytest.approx(sum(learnt["seed_costs"]) / 2)
    lo, hi = learnt["ci95"]
    assert lo <= learnt["mean_cost_per_day"] <= hi
    assert board["zero"]["score"] == pytest.approx(0.0)
    assert board["oracle"]["score"] == pytest.approx(100.0)
    assert board["oracle"]["ci_over"] == "days"
    costs = [r["mean_cost_per_day"] for r in res["leaderboard"]]
    assert costs == sorted(costs) and not any(math.isnan(c) for c in costs)
    assert json.loads((out / "results.json").read_text())["leaderboard"] == res["leaderboard"]
    md = (out / "results.md").read_text()
    assert "| mappo | learnt | 2 |" in md and "| oracle | baseline |" in md
    for name in ("costs_per_day.png", "violations.png", "learning_curves.png", "results.csv"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "runs" / "mappo-seed1" / "checkpoints" / "final").is_dir()
    page = publish(out, tmp_path / "docs" / "results.md")
    assert "](results/learning_curves.png)" in page.read_text()
    assert (tmp_path / "docs" / "results" / "learning_curves.png").exists()


def test_benchmark_with_the_torchrl_trainer(tmp_path):
    pytest.importorskip("torchrl")
    from powergrid.benchmark import run_benchmark

    res = run_benchmark("ieee34_ieee13", tmp_path / "bench", algos=["mappo"], seeds=2,
                        minutes=5.0, days=1, baselines=["zero"], trainer="torchrl",
                        train_args=TINY, log=lambda s: None)
    board = {r["policy"]: r for r in res["leaderboard"]}
    assert board["mappo"]["seeds"] == 2 and res["trainer"] == "torchrl"
    assert all(np.isfinite(c) for c in board["mappo"]["seed_costs"])
    assert (tmp_path / "bench" / "learning_curves.png").stat().st_size > 0


def test_torchrl_runs_train_side_by_side_and_reuse_existing_ones(tmp_path):
    """parallel=2 trains in two processes; an existing run is scored, not retrained."""
    pytest.importorskip("torchrl")
    from powergrid.benchmark import run_benchmark, train_runs

    first = train_runs("ieee34_ieee13", ["mappo-lag"], 1, 5.0, tmp_path / "a", "torchrl",
                       TINY, log=lambda s: None)
    existing = {("mappo-lag", 0): first[("mappo-lag", 0)]}
    stamp = (existing[("mappo-lag", 0)] / "metrics.csv").stat().st_mtime_ns
    res = run_benchmark("ieee34_ieee13", tmp_path / "b", algos=["mappo-lag"], seeds=3,
                        minutes=5.0, days=1, baselines=["zero"], trainer="torchrl",
                        train_args=TINY, parallel=2, existing_runs=existing,
                        log=lambda s: None)
    assert (existing[("mappo-lag", 0)] / "metrics.csv").stat().st_mtime_ns == stamp
    assert res["runs"]["mappo-lag/seed0"] == str(existing[("mappo-lag", 0)])
    for seed in (1, 2):
        assert (tmp_path / "b" / "runs" / f"mappo-lag-seed{seed}" / "checkpoints" / "final"
                / "actor.safetensors").exists()
    board = {r["policy"]: r for r in res["leaderboard"]}
    assert len(board["mappo-lag"]["seed_gaps_pct"]) == 3
    assert "arbitrage_spread" in board["zero"] and "seed_arbitrage_spread" in board["mappo-lag"]
    with pytest.raises(ValueError, match="parallel runs need trainer='torchrl'"):
        train_runs("ieee34_ieee13", ["mappo"], 2, 1.0, tmp_path / "c", "rllib", parallel=2)

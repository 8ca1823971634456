"""`make demo`'s main job runs end to end and writes its report."""

import json

from powergrid.demo import main


def test_demo_runs_and_reports(tmp_path):
    out = main(["--days", "1", "--out", str(tmp_path)])
    table = json.loads((out / "results.json").read_text())
    names = [r["policy"] for r in table]
    assert names[:5] == ["oracle", "rule", "follow-load", "random", "zero"]
    assert "mappo-lag (bundled)" in names
    costs = {r["policy"]: r["mean_cost_per_day"] for r in table}
    # the oracle is the yardstick: nothing beats it
    assert all(costs["oracle"] <= c + 1e-6 for c in costs.values())
    scores = {r["policy"]: r["score"] for r in table}
    assert scores["zero"] == 0.0 and scores["oracle"] == 100.0
    assert (out / "costs_per_day.png").exists() and (out / "day_0.png").exists()


def test_demo_trains_with_torchrl_and_ranks_that_policy(tmp_path):
    """`make demo TRAIN_MINUTES=N`: the default trainer is TorchRL and its checkpoint
    (tensors + JSON) goes through the same evaluation pipeline."""
    out = main(["--days", "1", "--out", str(tmp_path), "--train-minutes", "0.01"])
    names = [r["policy"] for r in json.loads((out / "results.json").read_text())]
    trained = [n for n in names if "torchrl" in n]
    assert trained == ["mappo-lag (torchrl, 0.01 min)"]
    ckpt = next((tmp_path / "training").glob("*/checkpoints/final"))
    assert (ckpt / "heron_torchrl.json").exists() and (ckpt / "model.pt").exists()

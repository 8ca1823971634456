"""`make demo`'s main job runs end to end and writes its report."""

import json

from powergrid.demo import main


def test_demo_runs_and_reports(tmp_path):
    out = main(["--days", "1", "--out", str(tmp_path)])
    table = json.loads((out / "results.json").read_text())
    names = [r["policy"] for r in table]
    assert names[:5] == ["oracle", "rule", "follow-load", "random", "zero"]
    assert "mappo (bundled)" in names
    costs = {r["policy"]: r["mean_cost_per_day"] for r in table}
    # the oracle is the yardstick: nothing beats it
    assert all(costs["oracle"] <= c + 1e-6 for c in costs.values())
    scores = {r["policy"]: r["score"] for r in table}
    assert scores["zero"] == 0.0 and scores["oracle"] == 100.0
    assert (out / "costs_per_day.png").exists() and (out / "day_0.png").exists()

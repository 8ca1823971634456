"""The evaluation report: every policy through the same env loop, files written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cvxpy")

from heron.core.policies import ConstantPolicy
from powergrid.evaluation import PolicySpec, evaluate, make_spec, summarize


def test_report_with_oracle_and_baselines(tmp_path):
    zero_too = PolicySpec(
        "const", lambda env, day: {a: ConstantPolicy(np.zeros(env.action_space(a).shape))
                                   for a in env.possible_agents})
    df = evaluate("ieee34_ieee13", ["oracle", "rule", "random", zero_too], days=[0],
                  out_dir=tmp_path, progress=False)
    assert set(df.policy) == {"oracle", "rule", "random", "const"}
    assert (df.error == "").all(), df.error.tolist()
    assert (df.steps == 24).all()
    for col in ("total_cost", "optimality_gap_pct", "voltage_violation_rate",
                "line_violation_rate", "convergence_rate"):
        assert col in df and df[col].notna().all(), col
    by = df.set_index("policy")
    assert by.loc["oracle", "optimality_gap_pct"] == pytest.approx(0.0, abs=1e-9)
    assert by.loc["oracle", "oracle_status"] == "optimal"
    for p in ("rule", "random", "const"):
        assert by.loc[p, "total_cost"] >= by.loc["oracle", "total_cost"]
        assert by.loc[p, "optimality_gap_pct"] >= 0
    # the oracle's replayed cost is what it planned
    assert by.loc["oracle", "total_cost"] == pytest.approx(by.loc["oracle", "oracle_objective"],
                                                           rel=0.01)
    for name in ("results.csv", "results.md", "costs_per_day.png", "day_0.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    md = (tmp_path / "results.md").read_text()
    assert "optimality_gap_pct" in md and "| oracle |" in md
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "results.csv")[["policy", "day"]],
                                  df[["policy", "day"]])
    assert list(summarize(df).index) == ["oracle", "rule", "random", "const"]


def test_unknown_policy_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="checkpoint folder"):
        make_spec(str(tmp_path / "no_such_checkpoint"))
    with pytest.raises(ValueError, match="days is empty"):
        evaluate("ieee34_ieee13", ["zero"], days=[], out_dir=tmp_path, progress=False)

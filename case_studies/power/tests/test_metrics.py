"""powergrid.metrics on hand-made episodes with known answers, and one definition only."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from powergrid.metrics import (
    add_gap,
    bootstrap_ci,
    convergence_rate,
    day_cost,
    does_arbitrage,
    episode_metrics,
    gap_pct,
    line_violation_rate,
    normalised_score,
    seed_ci,
    storage_arbitrage,
    summarize,
    violation_rate,
    voltage_violation_rate,
)
from powergrid.rollout import EpisodeRecord

BAND = {"A": (0.95, 1.05), "B": (0.9, 1.1)}


def _row(step, agent, cost=1.0, conv=True, vmin=1.0, vmax=1.0, load=50.0, reward=-1.0):
    return {"step": step, "agent": agent, "cost": cost, "reward": reward, "converged": conv,
            "v_min": vmin, "v_max": vmax, "max_line_loading": load, "safety": 0.0}


#: 4 steps x 2 agents. Step 1: A over-voltage. Step 2: B's power flow failed (its
#: voltages must not count). Step 3: A's line at 120 % and B at 0.92 (inside B's band).
ROWS = [
    _row(0, "A", cost=10.0), _row(0, "B", cost=-4.0),
    _row(1, "A", cost=5.0, vmax=1.07), _row(1, "B", cost=1.0),
    _row(2, "A", cost=2.0), _row(2, "B", cost=3.0, conv=False, vmin=0.5),
    _row(3, "A", cost=-1.0, load=120.0), _row(3, "B", cost=0.0, vmin=0.92),
]


def test_hand_made_episode_has_the_known_rates():
    assert day_cost(ROWS) == pytest.approx(16.0)
    # 7 converged agent-steps: one voltage violation, one line violation
    assert voltage_violation_rate(ROWS, BAND) == pytest.approx(1 / 7)
    assert line_violation_rate(ROWS) == pytest.approx(1 / 7)
    assert violation_rate(ROWS, BAND) == pytest.approx(2 / 7)
    # 4 steps, one with a failed power flow
    assert convergence_rate(ROWS) == pytest.approx(3 / 4)
    m = episode_metrics(ROWS, BAND)
    assert m["steps"] == 4 and m["total_reward"] == pytest.approx(-8.0)


def test_storage_arbitrage_on_a_hand_made_day():
    """ess charges 1 MW at $20 for two hours, then delivers 1.5 MW at $50 and 0.5 MW at
    $30: spread = (1.5*50 + 0.5*30) / 2 - 20 = 25 $/MWh on 2 MWh delivered. The
    generator's power (no soc) is not storage."""
    prices = [20.0, 20.0, 50.0, 30.0, 40.0]
    p_ess = [-1.0, -1.0, 1.5, 0.5, 0.0]
    rows = [{**_row(t, "A"), "price": pr, "ess.p_MW": p, "ess.soc": 0.5, "gen.p_MW": 3.0}
            for t, (pr, p) in enumerate(zip(prices, p_ess))]
    m = storage_arbitrage(rows)
    assert m["storage_discharged_MWh"] == pytest.approx(2.0)
    assert m["arbitrage_spread"] == pytest.approx(25.0)
    assert episode_metrics(rows, BAND)["arbitrage_spread"] == pytest.approx(25.0)
    # buying dear and selling cheap is a negative spread; never cycling is NaN
    flipped = [{**r, "ess.p_MW": -r["ess.p_MW"]} for r in rows]
    assert storage_arbitrage(flipped)["arbitrage_spread"] < 0
    idle = storage_arbitrage([{**r, "ess.p_MW": 0.0} for r in rows])
    assert idle["storage_discharged_MWh"] == 0.0 and math.isnan(idle["arbitrage_spread"])
    assert does_arbitrage(25.0, 2.0, oracle_discharged_MWh=4.0)
    assert not does_arbitrage(25.0, 0.5, oracle_discharged_MWh=4.0)   # too little energy
    assert not does_arbitrage(-1.0, 4.0, oracle_discharged_MWh=4.0)
    assert not does_arbitrage(math.nan, 4.0, oracle_discharged_MWh=4.0)


def test_tolerance_and_empty_episodes():
    just_inside = [_row(0, "A", vmax=1.05 + 5e-5)]
    assert voltage_violation_rate(just_inside, BAND) == 0.0
    none_converged = [_row(0, "A", conv=False)]
    assert math.isnan(voltage_violation_rate(none_converged, BAND))
    assert convergence_rate(none_converged) == 0.0
    assert math.isnan(episode_metrics([], BAND)["total_cost"])


def test_gap_and_normalised_score():
    assert gap_pct(-90.0, -100.0) == pytest.approx(10.0)
    assert gap_pct(110.0, 100.0) == pytest.approx(10.0)
    assert normalised_score(-1000.0, -1000.0, -2000.0) == pytest.approx(0.0)
    assert normalised_score(-2000.0, -1000.0, -2000.0) == pytest.approx(100.0)
    assert normalised_score(-1500.0, -1000.0, -2000.0) == pytest.approx(50.0)
    assert normalised_score(0.0, -1000.0, -2000.0) == pytest.approx(-100.0)
    assert math.isnan(normalised_score(1.0, 5.0, 5.0))


def test_summary_over_days():
    rows = []
    for day, (z, o, r) in enumerate([(-1000.0, -2000.0, -1800.0), (-1200.0, -2200.0, -1600.0)]):
        for name, cost in (("zero", z), ("oracle", o), ("rule", r)):
            rows.append({"policy": name, "day": day, "total_cost": cost,
                         "voltage_violation_rate": 0.5 if name == "rule" else 0.0,
                         "line_violation_rate": 0.0, "violation_rate": 0.0,
                         "convergence_rate": 1.0})
    df = add_gap(pd.DataFrame(rows))
    assert df.set_index(["policy", "day"]).loc[("rule", 0), "optimality_gap_pct"] == \
        pytest.approx(10.0)
    s = summarize(df)
    assert s.loc["rule", "mean_cost_per_day"] == pytest.approx(-1700.0)
    assert s.loc["rule", "optimality_gap_pct"] == pytest.approx((10.0 + 100 * 600 / 2200) / 2)
    assert s.loc["rule", "score"] == pytest.approx(100 * (-1100 + 1700) / (-1100 + 2100))
    assert s.loc["zero", "score"] == pytest.approx(0.0)
    assert s.loc["oracle", "score"] == pytest.approx(100.0)
    assert s.loc["rule", "voltage_violation_rate"] == pytest.approx(0.5)
    assert s.loc["rule", "cost_ci95_low"] <= -1700.0 <= s.loc["rule", "cost_ci95_high"]
    assert s.loc["rule", "cost_ci95_low"] >= -1800.0 and s.loc["rule", "cost_ci95_high"] <= -1600
    assert math.isnan(summarize(df[df.policy != "zero"]).loc["rule", "score"])


def test_confidence_intervals():
    # constant days: no spread; one value: a point
    assert bootstrap_ci([5.0, 5.0, 5.0]) == (5.0, 5.0)
    assert bootstrap_ci([2.0]) == (2.0, 2.0)
    lo, hi = bootstrap_ci(list(range(100)))
    assert lo < 49.5 < hi and hi - lo == pytest.approx(2 * 1.96 * 29.0 / 10, rel=0.15)
    assert bootstrap_ci([1.0, 9.0, 4.0]) == bootstrap_ci([1.0, 9.0, 4.0])  # seeded
    # Student-t over seeds: [1, 2, 3] -> 2 +- t(0.975, 2) * 1 / sqrt(3)
    mean, half = seed_ci([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and half == pytest.approx(4.302653 / math.sqrt(3))
    assert seed_ci([7.0]) == (7.0, math.inf)
    assert all(math.isnan(v) for v in seed_ci([]))


def test_episode_record_summary_uses_the_same_definitions():
    rec = EpisodeRecord(rows=list(ROWS), seconds=2.0, v_limits=BAND)
    s = rec.summary()
    assert s["violation_rate"] == pytest.approx(2 / 7)
    assert s["convergence_rate"] == pytest.approx(3 / 4)
    assert s["steps_per_s"] == pytest.approx(2.0)


# ------------------------------------------------------------ one definition only
ROOT = Path(__file__).resolve().parents[3]
#: code that scores episodes: the package, the benches and the examples
SCANNED = [ROOT / "case_studies/power/powergrid", ROOT / "case_studies/power/examples",
           ROOT / "bench"]
#: the shapes a second definition of a metric takes: a function named after a rate, a
#: loop over rows' convergence / safety / loading / voltage flags
SECOND_DEFINITION = re.compile(
    r"def \w*(violation|convergence)_rate\w*\s*\("
    r"|\[\s*[\"'](converged|safety|max_line_loading)[\"']\s*\]\s*(>|<|for\b)"
    r"|\[\s*[\"']v_(min|max)[\"']\s*\]\s*[<>]"
    r"|np\.mean\(\s*\[[^\]]*[\"'](converged|safety)[\"']")


def test_no_second_definition_of_a_metric():
    offenders = []
    for base in SCANNED:
        for path in sorted(base.rglob("*.py")):
            if path.name == "metrics.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if SECOND_DEFINITION.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, ("metrics are defined once, in powergrid/metrics.py; use it "
                           "instead of:\n" + "\n".join(offenders))


def test_the_pattern_catches_the_old_definitions():
    # the shapes the three earlier definitions had (so the test above can fail)
    for line in ('"violation_rate": float(np.mean([r["safety"] > 1e-9 for r in rows])),',
                 'conv_steps = [all(r["converged"] for r in rows if r["step"] == s)]',
                 'v_bad.append(r["v_min"] < lo - V_TOL or r["v_max"] > hi + V_TOL)',
                 "def summarise_violation_rate(records):"):
        assert SECOND_DEFINITION.search(line), line

"""The one definition of every evaluation metric.

Every number a report, the CLI, the demo, a bench or an example prints about a
policy comes from here, so that "violation rate" means the same thing everywhere.
The inputs are the per-(step, agent) rows of :func:`powergrid.rollout.run_episode`
(keys ``step``, ``agent``, ``cost``, ``reward``, ``converged``, ``v_min``, ``v_max``,
``max_line_loading``) and each agent's voltage band.

Definitions:

* **cost per day**: the sum over microgrids and hours of the environment's own
  ``agent.cost`` ($; negative = net revenue from selling to the DSO);
* **gap to the oracle**: ``100 (cost - oracle) / |oracle|`` % for the same day;
* **voltage violation rate**: the share of *converged* agent-steps with a bus outside
  the agent's ``v_limits`` (by more than :data:`V_TOL`, power-flow rounding);
* **line violation rate**: the share of converged agent-steps with a line above
  :data:`LINE_LIMIT_PCT` % loading;
* **violation rate**: the share of converged agent-steps with either;
* **convergence rate**: the share of steps whose power flow converged (for every agent);
* **normalised score**: ``100 (zero - cost) / (zero - oracle)`` on the mean cost per day:
  0 is the ``zero`` policy (every action 0), 100 the oracle, the way offline-RL
  benchmarks normalise returns;
* **storage arbitrage** (hourly steps): ``storage_discharged_MWh``, the energy the
  storage devices deliver per day, and ``arbitrage_spread``, the discharge-weighted
  mean price minus the charge-weighted mean price ($/MWh) over the day's storage
  power (positive: batteries sell dearer than they buy; NaN when they never both
  charge and discharge). :func:`does_arbitrage` says whether a policy's batteries
  do arbitrage at all: a positive spread on energy worth a share of the oracle's;
* **confidence intervals**: the mean cost per day carries a 95 % bootstrap interval
  over days (:func:`bootstrap_ci`, days resampled with replacement); results over
  training seeds are reported as mean ± a 95 % Student-t half-width (:func:`seed_ci`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: tolerance on voltage limits when counting violations (pu): power-flow rounding
V_TOL = 1e-4
#: a line above this loading (%) is overloaded
LINE_LIMIT_PCT = 100.0
#: reference policies of the normalised score
SCORE_ZERO, SCORE_FULL = "zero", "oracle"

Rows = Sequence[Mapping[str, Any]]
VLimits = Mapping[str, tuple[float, float]]


def day_cost(rows: Rows) -> float:
    """Cost of an episode: the sum of every agent's ``cost`` over every step ($)."""
    return float(sum(float(r["cost"]) for r in rows))


def _voltage_bad(row: Mapping[str, Any], v_limits: VLimits) -> bool:
    lo, hi = v_limits[row["agent"]]
    return bool(row["v_min"] < lo - V_TOL or row["v_max"] > hi + V_TOL)


def _line_bad(row: Mapping[str, Any]) -> bool:
    return bool(row["max_line_loading"] > LINE_LIMIT_PCT)


def _share(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else math.nan


def voltage_violation_rate(rows: Rows, v_limits: VLimits) -> float:
    """Share of converged agent-steps with a bus outside the agent's band (NaN: none)."""
    return _share([_voltage_bad(r, v_limits) for r in rows if r["converged"]])


def line_violation_rate(rows: Rows) -> float:
    """Share of converged agent-steps with a line above its rating (NaN: none)."""
    return _share([_line_bad(r) for r in rows if r["converged"]])


def violation_rate(rows: Rows, v_limits: VLimits) -> float:
    """Share of converged agent-steps with a voltage or a line violation (NaN: none)."""
    return _share([_voltage_bad(r, v_limits) or _line_bad(r) for r in rows if r["converged"]])


def convergence_rate(rows: Rows) -> float:
    """Share of steps whose power flow converged for every agent (1.0 for no steps)."""
    steps: dict[int, bool] = {}
    for r in rows:
        steps[r["step"]] = steps.get(r["step"], True) and bool(r["converged"])
    return float(np.mean(list(steps.values()))) if steps else 1.0


def gap_pct(cost: Any, oracle_cost: Any) -> Any:
    """Gap to the oracle in % of ``|oracle|`` (scalars or aligned arrays/Series)."""
    if isinstance(oracle_cost, pd.Series):
        return 100.0 * (cost - oracle_cost) / oracle_cost.abs().clip(lower=1e-9)
    return 100.0 * (cost - oracle_cost) / max(abs(float(oracle_cost)), 1e-9)


def normalised_score(cost: float, zero_cost: float, oracle_cost: float) -> float:
    """0 at the ``zero`` policy's cost, 100 at the oracle's (NaN when they coincide)."""
    span = zero_cost - oracle_cost
    if not np.isfinite(span) or abs(span) < 1e-9:
        return math.nan
    return float(100.0 * (zero_cost - cost) / span)


#: bootstrap resamples and the fixed seed that makes a report's intervals reproducible
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def bootstrap_ci(values: Sequence[float], level: float = 0.95,
                 resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
                 ) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaNs dropped).

    Why bootstrap: daily costs are skewed (sunny and windy days, price spikes) and a
    normal interval would be symmetric. One value gives a zero-width interval.
    """
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    return float(np.percentile(means, tail)), float(np.percentile(means, 100.0 - tail))


def seed_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width) of a Student-t interval over independent training seeds.

    Why t and not bootstrap: three to five seeds are too few to resample. One seed
    gives an infinite half-width: a single run says nothing about the spread.
    """
    from scipy import stats

    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1:
        return float(x[0]), math.inf
    half = stats.t.ppf(0.5 + level / 2.0, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


#: storage power below this (MW) counts as idle in the arbitrage metrics
P_IDLE_MW = 1e-6
#: :func:`does_arbitrage`: the share of the oracle's discharged energy a policy's
#: batteries must cycle (a battery nudged a few kW at the right hours is not arbitrage)
ARBITRAGE_MIN_SHARE = 0.25


def storage_arbitrage(rows: Rows) -> dict[str, float]:
    """``storage_discharged_MWh`` and ``arbitrage_spread`` of one day (module doc).

    Storage rows are the ``<device>.p_MW`` entries of devices that also report a
    ``<device>.soc`` (grid-side power, positive = discharge)."""
    dis_e = dis_pe = ch_e = ch_pe = 0.0
    for r in rows:
        price = float(r.get("price", math.nan))
        for key in r:
            if not (isinstance(key, str) and key.endswith(".soc")):
                continue
            p = float(r.get(key[:-4] + ".p_MW", 0.0))
            if p > P_IDLE_MW:
                dis_e, dis_pe = dis_e + p, dis_pe + p * price
            elif p < -P_IDLE_MW:
                ch_e, ch_pe = ch_e - p, ch_pe - p * price
    spread = dis_pe / dis_e - ch_pe / ch_e if dis_e > 0 and ch_e > 0 else math.nan
    return {"storage_discharged_MWh": dis_e, "arbitrage_spread": float(spread)}


def does_arbitrage(spread: float | None, discharged_MWh: float | None,
                   oracle_discharged_MWh: float) -> bool:
    """Positive spread on at least :data:`ARBITRAGE_MIN_SHARE` of the oracle's energy.

    ``None`` (a NaN read back from results.json: no charge or no discharge) is no
    arbitrage."""
    if spread is None or discharged_MWh is None:
        return False
    return bool(spread > 0 and discharged_MWh >= ARBITRAGE_MIN_SHARE * oracle_discharged_MWh)


def episode_metrics(rows: Rows, v_limits: VLimits) -> dict[str, float]:
    """Every per-episode metric of one day's rows (see the module docstring)."""
    if not rows:
        return {"total_cost": math.nan, "total_reward": math.nan, "steps": 0,
                "voltage_violation_rate": math.nan, "line_violation_rate": math.nan,
                "violation_rate": math.nan, "convergence_rate": 0.0,
                "total_safety": math.nan, "storage_discharged_MWh": math.nan,
                "arbitrage_spread": math.nan}
    return {
        "total_cost": day_cost(rows),
        "total_reward": float(sum(float(r["reward"]) for r in rows)),
        "steps": len({r["step"] for r in rows}),
        "voltage_violation_rate": voltage_violation_rate(rows, v_limits),
        "line_violation_rate": line_violation_rate(rows),
        "violation_rate": violation_rate(rows, v_limits),
        "convergence_rate": convergence_rate(rows),
        "total_safety": float(sum(float(r.get("safety", 0.0)) for r in rows)),
        **storage_arbitrage(rows),
    }


def add_gap(df: pd.DataFrame) -> pd.DataFrame:
    """``optimality_gap_pct`` per (policy, day) against the oracle's row of the day."""
    df = df.copy()
    df["optimality_gap_pct"] = math.nan
    if (df.policy == SCORE_FULL).any():
        ref = df[df.policy == SCORE_FULL].set_index("day")["total_cost"]
        df["optimality_gap_pct"] = gap_pct(df.total_cost, df.day.map(ref))
    return df


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per policy: days, mean / std / total cost per day with its bootstrap 95 % interval
    over days, gap, rates and the score.

    ``df`` has one row per (policy, day) with :func:`episode_metrics`' columns (and
    ``optimality_gap_pct`` from :func:`add_gap`). The score needs ``zero`` and
    ``oracle`` rows for the same days; without them it is NaN.
    """
    if "optimality_gap_pct" not in df:
        df = add_gap(df)
    agg = df.groupby("policy", sort=False).agg(
        days=("day", "count"),
        mean_cost_per_day=("total_cost", "mean"),
        std_cost_per_day=("total_cost", "std"),
        total_cost=("total_cost", "sum"),
        optimality_gap_pct=("optimality_gap_pct", "mean"),
        voltage_violation_rate=("voltage_violation_rate", "mean"),
        line_violation_rate=("line_violation_rate", "mean"),
        violation_rate=("violation_rate", "mean"),
        convergence_rate=("convergence_rate", "mean"),
        **{k: (k, "mean") for k in ("storage_discharged_MWh", "arbitrage_spread")
           if k in df},
    )
    agg["std_cost_per_day"] = agg["std_cost_per_day"].fillna(0.0)
    cis = {name: bootstrap_ci(g.total_cost.tolist())
           for name, g in df.groupby("policy", sort=False)}
    agg["cost_ci95_low"] = [cis[n][0] for n in agg.index]
    agg["cost_ci95_high"] = [cis[n][1] for n in agg.index]
    costs = agg["mean_cost_per_day"]
    if SCORE_ZERO in costs and SCORE_FULL in costs:
        agg["score"] = [normalised_score(c, costs[SCORE_ZERO], costs[SCORE_FULL]) for c in costs]
    else:
        agg["score"] = math.nan
    return agg

"""Evaluation report: any set of policies on the test days, scored by the environment.

>>> from powergrid.evaluation import evaluate
>>> df = evaluate("ieee34_ieee13", ["oracle", "rule", "random", "zero"], days=3, out_dir="eval")

Why one loop for everything: RL checkpoints, baselines and the optimal-dispatch
oracle are all :class:`heron.core.policies.Policy` objects run through the same
:func:`powergrid.rollout.run_episode`, so every cost in the report is the
environment's own ``agent.cost`` (the oracle's included: its setpoints are
replayed, not taken from the optimiser), and the optimality gap compares like with
like.

Outputs in ``out_dir``:

* ``results.csv``: one row per (policy, day): total cost, optimality gap to the
  oracle, violation and convergence rates, oracle diagnostics;
* ``results.md``: the summary table per policy, costs per day, notes;
* ``costs_per_day.png``: cost per day for each policy;
* ``day_<d>.png``: for the first day, one row per policy with the voltage envelope,
  the dispatch and the SOC side by side.

Metrics (cost per day, gap to the oracle, voltage / line violation and
convergence rates, normalised score) are defined once, in :mod:`powergrid.metrics`;
this module only runs the policies and writes the report. :func:`run_policies` is
the one function that evaluates any set of policies and checkpoints over days; the
CLI (``heron-power evaluate``), the demo, ``powergrid.evaluate_checkpoint`` and the
benches all call it.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from powergrid.baselines import POLICY_KINDS
from powergrid.metrics import add_gap, episode_metrics, summarize
from powergrid.rollout import EpisodeRecord, run_episode

log = logging.getLogger(__name__)

#: what a report compares when not told otherwise (CLI evaluate, the demo,
#: evaluate_checkpoint): the oracle, the strong and the naive rule, random and zero
DEFAULT_POLICIES: tuple[str, ...] = ("oracle", "rule", "follow-load", "random", "zero")
#: the baselines a checkpoint is compared with (everything but the oracle, which
#: needs a solver and seconds per day)
BASELINES: tuple[str, ...] = tuple(p for p in DEFAULT_POLICIES if p != "oracle")

__all__ = ["BASELINES", "DEFAULT_POLICIES", "PolicySpec", "evaluate", "make_spec",
           "run_policies", "summarize"]


@dataclass
class PolicySpec:
    """A policy to evaluate: a name and how to make one policy per agent of an env.

    ``factory(env, day)`` returns ``{agent_id: Policy}``; it is called once per day so
    that day-specific policies (the oracle) can be built. ``after_day(day)``, when
    given, returns extra columns for the day's row once it has run (MPC solve times).
    """

    name: str
    factory: Callable[[Any, int], dict[str, Any]]
    info: dict[int, dict[str, Any]] = field(default_factory=dict)
    after_day: Callable[[int], dict[str, Any]] | None = None


def checkpoint_spec(path: str | Path, name: str | None = None) -> PolicySpec:
    """A trained checkpoint, acting deterministically (the action a deployed controller
    would take: the Gaussian's mean)."""
    from heron.training.evaluate import load_policies

    path = Path(path)
    cache: dict[str, Any] = {}

    def factory(env: Any, day: int) -> dict[str, Any]:
        if "p" not in cache:
            cache["p"] = load_policies(path, deterministic=True)
        missing = set(env.possible_agents) - set(cache["p"])
        if missing:
            raise KeyError(f"checkpoint {path} has no policy for agent(s) {sorted(missing)}.")
        return cache["p"]

    return PolicySpec(name=name or path.name or str(path), factory=factory)


def _oracle_spec(oracle_kwargs: dict[str, Any]) -> PolicySpec:
    from powergrid.optimization import solve_day

    spec = PolicySpec(name="oracle", factory=lambda env, day: {})

    def factory(env: Any, day: int) -> dict[str, Any]:
        res = solve_day(env.env_config, day, split=env.split, horizon=env.max_episode_steps,
                        env=env, **oracle_kwargs)
        spec.info[day] = {
            "oracle_status": res.status, "oracle_objective": res.objective,
            "oracle_relaxed_objective": res.relaxed_objective,
            "oracle_solve_s": res.solve_time_s + res.build_time_s,
            "oracle_exact": res.exact, "oracle_soc_gap_rel": res.soc_gap.get("max_rel"),
            "oracle_excess_loss_MW": res.soc_gap.get("excess_loss_MW"),
            "oracle_violations": "; ".join(res.violations[:3]),
        }
        return res.to_policies(env)

    spec.factory = factory
    return spec


def _mpc_spec(name: str, forecast: str) -> PolicySpec:
    from powergrid.optimization.mpc import mpc_controller, mpc_policies

    ctrl: dict[str, Any] = {}

    def factory(env: Any, day: int) -> dict[str, Any]:
        ctrl["c"] = mpc_controller(env, forecast=forecast)
        ctrl["n"] = len(ctrl["c"].plans)
        return mpc_policies(env, forecast=forecast)

    def after_day(day: int) -> dict[str, Any]:
        plans = ctrl["c"].plans[ctrl["n"]:]
        ms = [p.solve_ms for p in plans]
        return {"mpc_solve_ms_mean": float(np.mean(ms)) if ms else float("nan"),
                "mpc_solve_ms_max": float(np.max(ms)) if ms else float("nan"),
                "mpc_failed_steps": sum(p.status not in ("optimal", "optimal_inaccurate")
                                        for p in plans)}

    return PolicySpec(name=name, factory=factory, after_day=after_day)


def make_spec(policy: str | Path | PolicySpec, seed: int = 0,
              oracle_kwargs: dict[str, Any] | None = None) -> PolicySpec:
    """Turn a baseline name (:data:`powergrid.baselines.POLICY_KINDS`), a checkpoint
    folder or a ready :class:`PolicySpec` into a spec."""
    from powergrid.baselines import make_policies

    if isinstance(policy, PolicySpec):
        return policy
    if isinstance(policy, str) and policy == "oracle":
        return _oracle_spec(dict(oracle_kwargs or {}))
    if isinstance(policy, str) and (policy == "mpc" or policy.startswith("mpc:")):
        return _mpc_spec(policy, policy.partition(":")[2] or "persistence")
    if isinstance(policy, str) and policy in POLICY_KINDS:
        return PolicySpec(name=policy, factory=lambda env, day, k=policy: make_policies(
            env, k, seed=seed))
    path = Path(policy)
    if path.is_dir():
        return checkpoint_spec(path)
    raise ValueError(f"Unknown policy {policy!r}: use one of {POLICY_KINDS} (mpc:seasonal, "
                     "mpc:perfect for other forecasts), a checkpoint folder written by "
                     "heron.training, or a PolicySpec.")


def run_policies(setup: str | dict[str, Any] | Any, policies: Sequence[str | Path | PolicySpec],
                 days: Sequence[int] | int, *, split: str = "test", horizon: int = 24,
                 seed: int = 0, oracle_kwargs: dict[str, Any] | None = None,
                 keep_records: Sequence[int] = (), progress: bool = False
                 ) -> tuple[pd.DataFrame, dict[tuple[str, int], EpisodeRecord]]:
    """Run every policy on every day through the same loop; score with :mod:`.metrics`.

    Args:
        setup: a setup name, an ``env_config`` dict, or a ready environment (one
            ``horizon``-step episode per day of its split).
        policies: baseline names, checkpoint folders or :class:`PolicySpec`.
        days: day indices of the split, or N for the first N days.
        keep_records: days whose :class:`~powergrid.rollout.EpisodeRecord` to return
            (for plots); others are scored and dropped.

    Returns:
        ``(df, records)``: one row per (policy, day) with
        :func:`powergrid.metrics.episode_metrics`' columns, ``seconds``, ``error`` and
        ``optimality_gap_pct`` (when the oracle is among the policies); and the kept
        records by ``(policy name, day)``. A policy that fails on a day gets a row
        with its error instead of stopping the whole run.
    """
    from tqdm.auto import tqdm

    env = _make_env(setup, split, horizon)
    day_list = list(range(days)) if isinstance(days, int) else [int(d) for d in days]
    if not day_list:
        raise ValueError("days is empty: give a count or a list of day indices.")
    specs = [make_spec(p, seed, oracle_kwargs) for p in policies]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be unique, got {names}.")
    rows: list[dict[str, Any]] = []
    records: dict[tuple[str, int], EpisodeRecord] = {}
    for day in tqdm(day_list, desc="evaluating days", unit="day", disable=not progress):
        for spec in specs:
            t0 = time.perf_counter()
            try:
                pols = spec.factory(env, day)
                rec = run_episode(env, pols, seed=seed, options={"day": day})
                row = {"policy": spec.name, "day": day,
                       **episode_metrics(rec.rows, rec.v_limits), "error": ""}
            except Exception as exc:  # one bad policy must not kill the whole report
                log.exception("policy %s failed on day %d", spec.name, day)
                rec = None
                row = {"policy": spec.name, "day": day, "total_cost": float("nan"),
                       "error": f"{type(exc).__name__}: {exc}"}
            row["seconds"] = time.perf_counter() - t0
            row.update(spec.info.get(day, {}))
            if spec.after_day is not None and rec is not None:
                row.update(spec.after_day(day))
            rows.append(row)
            if day in keep_records and rec is not None:
                records[(spec.name, day)] = rec
    return add_gap(pd.DataFrame(rows)), records


def _make_env(setup: Any, split: str, horizon: int) -> Any:
    from powergrid.optimization import make_env
    from powergrid.setups import load_setup

    if isinstance(setup, str):
        return make_env(load_setup(setup), split, horizon)
    if isinstance(setup, dict):
        return make_env(copy.deepcopy(setup), split, horizon)
    return setup  # an environment


def evaluate(setup: str | dict[str, Any], policies: Sequence[str | Path | PolicySpec],
             days: Sequence[int] | int, out_dir: str | Path, *, split: str = "test",
             horizon: int = 24, seed: int = 0, oracle_kwargs: dict[str, Any] | None = None,
             plot_day: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Run ``policies`` on ``days`` of ``split`` (:func:`run_policies`) and write the
    report into ``out_dir``.

    Args:
        setup: a setup name (``load_setup``) or an ``env_config`` dict.
        policies: baseline names, checkpoint folders or PolicySpecs.
        days: day indices of the split, or N for the first N days.
        out_dir: where results.csv, results.md, results.json and the plots go (created).
        horizon: steps per episode (one day = 24).
        oracle_kwargs: passed to :func:`powergrid.optimization.solve_day`.
        plot_day: the day drawn in ``day_<d>.png`` (default: the first).

    Returns:
        One row per (policy, day); see :func:`run_policies` for the columns.
    """
    from powergrid.setups import load_setup

    config = load_setup(setup) if isinstance(setup, str) else copy.deepcopy(setup)
    day_list = list(range(days)) if isinstance(days, int) else [int(d) for d in days]
    if not day_list:
        raise ValueError("days is empty: give a count or a list of day indices.")
    plot_day = day_list[0] if plot_day is None else plot_day
    df, records = run_policies(config, policies, day_list, split=split, horizon=horizon,
                               seed=seed, oracle_kwargs=oracle_kwargs,
                               keep_records=(plot_day,), progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    table = summarize(df).reset_index()
    (out / "results.json").write_text(table.to_json(orient="records", indent=2))
    _write_markdown(df, out / "results.md", config, split, day_list)
    plot_summary(df, out / "costs_per_day.png")
    day_records = {name: rec for (name, d), rec in records.items() if d == plot_day}
    if day_records:
        plot_day_comparison(day_records, out / f"day_{plot_day}.png", title=f"day {plot_day}")
    return df


def _write_markdown(df: pd.DataFrame, path: Path, config: dict[str, Any], split: str,
                    days: list[int]) -> None:
    summary = summarize(df)
    lines = [
        "# Evaluation report",
        "",
        f"Split: {split}, days: {days}. Costs in $ per day as the environment computes "
        "them (sum over microgrids of `agent.cost`); negative = net revenue. Score: 0 = "
        "`zero`, 100 = oracle. Definitions: `powergrid.metrics`.",
        "",
        "## Summary",
        "",
        _md_table(summary.reset_index(), floatfmt={
            "mean_cost_per_day": "{:.2f}", "std_cost_per_day": "{:.2f}", "total_cost": "{:.2f}",
            "optimality_gap_pct": "{:.2f}", "voltage_violation_rate": "{:.3f}",
            "line_violation_rate": "{:.3f}", "violation_rate": "{:.3f}",
            "convergence_rate": "{:.3f}", "score": "{:.1f}", "cost_ci95_low": "{:.2f}",
            "cost_ci95_high": "{:.2f}"}),
        "",
        "## Cost per day",
        "",
        _md_table(df.pivot_table(index="day", columns="policy", values="total_cost",
                                 sort=False).reset_index(), floatfmt="{:.2f}"),
        "",
    ]
    if "oracle_status" in df:
        o = df[df.policy == "oracle"]
        bad = o[o.oracle_status != "optimal"]
        lines += ["## Oracle", "",
                  f"Solved {len(o)} day(s): {int((o.oracle_status == 'optimal').sum())} "
                  f"optimal, {len(bad)} not. Mean solve time "
                  f"{o.oracle_solve_s.mean():.2f} s; planned vs replayed cost differ by at "
                  f"most {_max_rel(o.oracle_objective, o.total_cost):.3f} %.", ""]
        for _, r in bad.iterrows():
            lines.append(f"- day {r.day}: {r.oracle_status}; {r.oracle_violations}")
    errors = df[df.error.astype(str) != ""] if "error" in df else df.iloc[:0]
    if len(errors):
        lines += ["", "## Errors", ""]
        lines += [f"- {r.policy}, day {r.day}: {r.error}" for _, r in errors.iterrows()]
    path.write_text("\n".join(lines) + "\n")


def _max_rel(planned: pd.Series, realised: pd.Series) -> float:
    rel = (realised - planned).abs() / planned.abs().clip(lower=1e-9)
    return float(100.0 * rel.max()) if len(rel) else float("nan")


def _md_table(df: pd.DataFrame, floatfmt: str | dict[str, str] = "{:.3f}") -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    cols = [str(c) for c in df.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.astype(object).itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row, strict=True):
            fmt = floatfmt.get(str(c), "{}") if isinstance(floatfmt, dict) else floatfmt
            if isinstance(v, (float, np.floating)):
                cells.append("" if np.isnan(v) else fmt.format(v))
            else:
                cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------------------- plots
def plot_summary(df: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Cost per day per policy, and each policy's violation and convergence rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    summary = summarize(df)
    labels = list(summary.index)
    fig, (ax_c, ax_r) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    for name, g in df.groupby("policy", sort=False):
        g = g.sort_values("day")
        ax_c.plot(g.day, g.total_cost, marker="o", ms=3, label=name)
    ax_c.set(xlabel="test day", ylabel="cost ($/day, lower is better)", title="Cost per day")
    ax_c.legend(fontsize=8)
    x = np.arange(len(labels))
    ax_r.bar(x - 0.2, summary.violation_rate.fillna(0.0), 0.4, label="violation")
    ax_r.bar(x + 0.2, summary.convergence_rate.fillna(0.0), 0.4, label="converged")
    ax_r.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax_r.set(ylim=(0, 1.05), title="rates")
    ax_r.legend(fontsize=8)
    for ax in (ax_c, ax_r):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_day_comparison(records: dict[str, EpisodeRecord], path: str | Path,
                        title: str = "") -> Path:
    """One row per policy: voltage envelope, dispatch, SOC (``plotting.draw_episode``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from powergrid.plotting import draw_episode

    path = Path(path)
    n = len(records)
    fig, axes = plt.subplots(n, 3, figsize=(15, 3.2 * n), squeeze=False)
    for i, (name, rec) in enumerate(records.items()):
        draw_episode(rec, axes[i], prefix=f"{name}: ", legend_size=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

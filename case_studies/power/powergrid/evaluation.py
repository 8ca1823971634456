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

Definitions: the *optimality gap* of a day is ``(cost - oracle) / |oracle| x 100`` (the
oracle's cost can be negative when microgrids export); the *voltage violation rate*
is the share of converged agent-steps with a bus outside the agent's ``v_limits``;
the *line violation rate* the share with a line above 100 % loading; the
*convergence rate* the share of steps whose power flow converged.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from powergrid.rollout import EpisodeRecord, run_episode

log = logging.getLogger(__name__)

BASELINES = ("rule", "random", "zero")
#: tolerance on voltage limits when counting violations (pu): power-flow rounding
V_TOL = 1e-4


@dataclass
class PolicySpec:
    """A policy to evaluate: a name and how to make one policy per agent of an env.

    ``factory(env, day)`` returns ``{agent_id: Policy}``; it is called once per day so
    that day-specific policies (the oracle) can be built.
    """

    name: str
    factory: Callable[[Any, int], dict[str, Any]]
    info: dict[int, dict[str, Any]] = field(default_factory=dict)


def _checkpoint_spec(path: Path) -> PolicySpec:
    from heron.training.evaluate import load_policies

    cache: dict[str, Any] = {}

    def factory(env: Any, day: int) -> dict[str, Any]:
        if "p" not in cache:
            cache["p"] = load_policies(path)
        missing = set(env.possible_agents) - set(cache["p"])
        if missing:
            raise KeyError(f"checkpoint {path} has no policy for agent(s) {sorted(missing)}.")
        return cache["p"]

    return PolicySpec(name=path.name or str(path), factory=factory)


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


def make_spec(policy: str | Path | PolicySpec, seed: int = 0,
              oracle_kwargs: dict[str, Any] | None = None) -> PolicySpec:
    """Turn "oracle" / "rule" / "random" / "zero" / a checkpoint folder into a spec."""
    from powergrid.baselines import make_policies

    if isinstance(policy, PolicySpec):
        return policy
    if isinstance(policy, str) and policy == "oracle":
        return _oracle_spec(dict(oracle_kwargs or {}))
    if isinstance(policy, str) and policy in BASELINES:
        return PolicySpec(name=policy, factory=lambda env, day, k=policy: make_policies(
            env, k, seed=seed))
    path = Path(policy)
    if path.is_dir():
        return _checkpoint_spec(path)
    raise ValueError(f"Unknown policy {policy!r}: use 'oracle', one of {BASELINES}, a "
                     "checkpoint folder written by heron.training, or a PolicySpec.")


def _episode_metrics(rec: EpisodeRecord, env: Any) -> dict[str, float]:
    rows = rec.rows
    if not rows:
        return {"total_cost": float("nan"), "steps": 0, "voltage_violation_rate": float("nan"),
                "line_violation_rate": float("nan"), "convergence_rate": 0.0,
                "total_safety": float("nan")}
    conv = [r for r in rows if r["converged"]]
    v_bad = []
    for r in conv:
        lo, hi = env.agent_dict[r["agent"]].v_limits
        v_bad.append(r["v_min"] < lo - V_TOL or r["v_max"] > hi + V_TOL)
    steps = sorted({r["step"] for r in rows})
    conv_steps = [all(r["converged"] for r in rows if r["step"] == s) for s in steps]
    return {
        "total_cost": float(sum(r["cost"] for r in rows)),
        "steps": len(steps),
        "voltage_violation_rate": float(np.mean(v_bad)) if v_bad else float("nan"),
        "line_violation_rate": (float(np.mean([r["max_line_loading"] > 100.0 for r in conv]))
                                if conv else float("nan")),
        "convergence_rate": float(np.mean(conv_steps)),
        "total_safety": float(sum(r.get("safety", 0.0) for r in rows)),
    }


def evaluate(setup: str | dict[str, Any], policies: Sequence[str | Path | PolicySpec],
             days: Sequence[int] | int, out_dir: str | Path, *, split: str = "test",
             horizon: int = 24, seed: int = 0, oracle_kwargs: dict[str, Any] | None = None,
             plot_day: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Run ``policies`` on ``days`` of ``split`` and write the report into ``out_dir``.

    Args:
        setup: a setup name (``load_setup``) or an ``env_config`` dict.
        policies: "oracle", "rule", "random", "zero", checkpoint folders or PolicySpecs.
        days: day indices of the split, or N for the first N days.
        out_dir: where results.csv, results.md and the plots go (created).
        horizon: steps per episode (one day = 24).
        oracle_kwargs: passed to :func:`powergrid.optimization.solve_day`.
        plot_day: the day drawn in ``day_<d>.png`` (default: the first).

    Returns:
        One row per (policy, day); see the module docstring for the columns.
    """
    from tqdm.auto import tqdm

    from powergrid.optimization import make_env
    from powergrid.setups import load_setup

    config = load_setup(setup) if isinstance(setup, str) else copy.deepcopy(setup)
    day_list = list(range(days)) if isinstance(days, int) else [int(d) for d in days]
    if not day_list:
        raise ValueError("days is empty: give a count or a list of day indices.")
    specs = [make_spec(p, seed, oracle_kwargs) for p in policies]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be unique, got {names}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(config, split, horizon)
    plot_day = day_list[0] if plot_day is None else plot_day
    rows: list[dict[str, Any]] = []
    records: dict[str, EpisodeRecord] = {}
    for day in tqdm(day_list, desc="evaluating days", unit="day", disable=not progress):
        for spec in specs:
            try:
                pols = spec.factory(env, day)
                rec = run_episode(env, pols, seed=seed, options={"day": day})
                row = {"policy": spec.name, "day": day, **_episode_metrics(rec, env),
                       "error": ""}
            except Exception as exc:  # one bad policy must not kill the whole report
                log.exception("policy %s failed on day %d", spec.name, day)
                rec = None
                row = {"policy": spec.name, "day": day, "total_cost": float("nan"),
                       "error": f"{type(exc).__name__}: {exc}"}
            row.update(spec.info.get(day, {}))
            rows.append(row)
            if day == plot_day and rec is not None:
                records[spec.name] = rec
    df = pd.DataFrame(rows)
    df["optimality_gap_pct"] = np.nan
    if "oracle" in names:
        ref = df[df.policy == "oracle"].set_index("day")["total_cost"]
        base = df.day.map(ref)
        df["optimality_gap_pct"] = 100.0 * (df.total_cost - base) / base.abs().clip(lower=1e-9)
    df.to_csv(out / "results.csv", index=False)
    _write_markdown(df, out / "results.md", config, split, day_list)
    _plots(df, records, out, plot_day)
    return df


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per policy: mean cost per day, total cost, mean gap and rates."""
    agg = df.groupby("policy", sort=False).agg(
        days=("day", "count"),
        mean_cost_per_day=("total_cost", "mean"),
        total_cost=("total_cost", "sum"),
        optimality_gap_pct=("optimality_gap_pct", "mean"),
        voltage_violation_rate=("voltage_violation_rate", "mean"),
        line_violation_rate=("line_violation_rate", "mean"),
        convergence_rate=("convergence_rate", "mean"),
    )
    return agg


def _write_markdown(df: pd.DataFrame, path: Path, config: dict[str, Any], split: str,
                    days: list[int]) -> None:
    summary = summarize(df)
    lines = [
        "# Evaluation report",
        "",
        f"Split: {split}, days: {days}. Costs in $ per day as the environment computes "
        "them (sum over microgrids of `agent.cost`); negative = net revenue.",
        "",
        "## Summary",
        "",
        _md_table(summary.reset_index(), floatfmt={
            "mean_cost_per_day": "{:.2f}", "total_cost": "{:.2f}",
            "optimality_gap_pct": "{:.2f}", "voltage_violation_rate": "{:.3f}",
            "line_violation_rate": "{:.3f}", "convergence_rate": "{:.3f}"}),
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
def _plots(df: pd.DataFrame, records: dict[str, EpisodeRecord], out: Path, day: int) -> None:
    from powergrid.plotting import plot_costs

    costs = {p: g.sort_values("day").total_cost.tolist() for p, g in df.groupby("policy",
                                                                                sort=False)}
    plot_costs(costs, out / "costs_per_day.png")
    if records:
        plot_day_comparison(records, out / f"day_{day}.png", title=f"day {day}")


def plot_day_comparison(records: dict[str, EpisodeRecord], path: str | Path,
                        title: str = "") -> Path:
    """One row per policy: voltage envelope, dispatch, SOC (as plotting.plot_episode)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n = len(records)
    fig, axes = plt.subplots(n, 3, figsize=(15, 3.2 * n), squeeze=False)
    for i, (name, rec) in enumerate(records.items()):
        ax_v, ax_p, ax_s = axes[i]
        for a in sorted({r["agent"] for r in rec.rows}):
            rows = [r for r in rec.rows if r["agent"] == a]
            steps = [r["step"] for r in rows]
            ax_v.fill_between(steps, [r["v_min"] for r in rows], [r["v_max"] for r in rows],
                              alpha=0.3, label=a)
            for key in rows[0]:
                if key.endswith(".p_MW"):
                    ax_p.step(steps, [r[key] for r in rows], where="post",
                              label=f"{a}/{key[:-5]}")
                if key.endswith(".soc"):
                    ax_s.plot(steps, [r[key] for r in rows], marker=".", label=f"{a}/{key[:-4]}")
            ax_p.step(steps, [r["grid_import_MW"] for r in rows], where="post", linestyle=":",
                      label=f"{a}/import")
        for y in (0.95, 1.05):
            ax_v.axhline(y, color="red", linewidth=0.8, linestyle="--")
        ax_v.set(title=f"{name}: bus voltage envelope", xlabel="hour", ylabel="|V| (pu)")
        ax_p.set(title=f"{name}: dispatch (+ = into grid)", xlabel="hour", ylabel="MW")
        ax_s.set(title=f"{name}: state of charge", xlabel="hour", ylabel="SOC", ylim=(0, 1))
        for ax in (ax_v, ax_p, ax_s):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6)
            ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

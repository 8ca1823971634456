"""`make demo`: the main job on the embedded defaults.

Builds the default setup (three IEEE 13-bus microgrids on the IEEE 34-bus feeder,
real SimBench-derived data), runs baseline policies over test days, prints a
comparison table and writes plots to a run folder whose path it prints.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from powergrid.baselines import make_policies
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.plotting import plot_costs, plot_episode
from powergrid.rollout import run_episode
from powergrid.setups.loader import load_setup


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", default="ieee34_ieee13")
    parser.add_argument("--days", type=int, default=3, help="test days to evaluate")
    parser.add_argument("--out", default=None, help="run folder (default runs/demo-<time>)")
    args = parser.parse_args(argv)

    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = load_setup(args.setup)
    config.update({"train": False, "max_episode_steps": 24})
    env = MultiAgentMicrogrids(config)
    print(f"[demo] setup {args.setup!r}: {len(env.net.bus)} buses, {len(env.net.line)} lines, "
          f"agents {env.possible_agents}, power flow backend {env.backend} "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    for a in env.possible_agents:
        ag = env.agent_dict[a]
        print(f"[demo]   {a}: devices {list(ag.devices)}, obs dim "
              f"{env.observation_space(a).shape[0]}, action dim {env.action_space(a).shape[0]}")

    table = []
    costs: dict[str, list[float]] = {}
    for kind in ("random", "zero", "rule"):
        day_costs = []
        recs = []
        for day in range(args.days):
            rec = run_episode(env, make_policies(env, kind, seed=day), seed=day,
                              options={"day": day})
            recs.append(rec)
            day_costs.append(rec.total("cost"))
        costs[kind] = day_costs
        steps = sum(len(r.rows) for r in recs) / len(env.possible_agents)
        secs = sum(r.seconds for r in recs)
        row = {
            "policy": kind,
            "total_cost": float(np.sum(day_costs)),
            "violation_rate": float(np.mean([r.summary()["violation_rate"] for r in recs])),
            "convergence_rate": float(np.mean([r.summary()["convergence_rate"] for r in recs])),
            "env_steps_per_s": steps / secs if secs > 0 else float("nan"),
        }
        table.append(row)
        plot_episode(recs[0], out / f"day0_{kind}.png", title=f"{args.setup}, test day 0, {kind}")
    plot_costs(costs, out / "cost_per_day.png")

    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    (out / "config.json").write_text(json.dumps(
        {k: v for k, v in config.items() if k != "dataset"}, indent=2, default=str))

    print(f"\n[demo] {args.days} test day(s) of 24 h, costs in $ (lower is better):")
    print(f"{'policy':<8} {'total cost':>11} {'violations':>11} {'converged':>10} {'steps/s':>9}")
    for r in table:
        print(f"{r['policy']:<8} {r['total_cost']:>11.1f} {r['violation_rate']:>10.1%} "
              f"{r['convergence_rate']:>10.0%} {r['env_steps_per_s']:>9.0f}")
    print(f"\n[demo] plots and results in {out.resolve()}  ({time.perf_counter() - t0:.1f} s)")
    return out


if __name__ == "__main__":
    main()

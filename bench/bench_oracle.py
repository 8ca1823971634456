"""Optimal-dispatch oracle and MPC: time and cost per day, and the baselines beside them.

1. Oracle, per day: reading the day's data from the environment, building the cvxpy
   model, solving it (relaxation, exactness steps, battery fixing; split into cvxpy's
   compilation and the solver itself), and its replayed cost. Target: < 10 s per day
   (data + build + solve).
2. MPC (24 h horizon, re-planned hourly, persistence forecasts by default) on the same
   days: its replayed cost, the gap to the oracle, and its solve time per step
   (target: < 100 ms per step; the model is compiled once, every step re-solves it).
3. The baselines (`rule`, `follow-load`, `zero` and the constant "generators at p_max,
   absorb Q") on ``--baseline-days`` (default: every test day), with the oracle and
   MPC for the days of 1-2. Target: `rule` at least as cheap as the constant policy.

Every cost and rate comes from the one evaluation pipeline (``powergrid.evaluation``,
``powergrid.metrics``). Timings are wall-clock on a shared machine: noisy.

    python bench/bench_oracle.py [--setup ieee34_ieee13] [--days 0 1 2 3 4] [--split test]
                                 [--forecast persistence] [--baseline-days all|N]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from heron.core.policies import ConstantPolicy
from powergrid.evaluation import PolicySpec, run_policies
from powergrid.metrics import gap_pct, summarize
from powergrid.optimization import RadialNetwork, make_env, scenario_from_env
from powergrid.optimization.mpc import TARGET_STEP_MS
from powergrid.optimization.oracle import solve_scenario
from powergrid.setups.loader import load_setup

TARGET_S = 10.0


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def constant_pmax_spec() -> PolicySpec:
    """Generators at p_max absorbing all the reactive power they can, everything else 0."""
    from powergrid.agents.generator import Generator

    def factory(env: Any, day: int) -> dict[str, Any]:
        out = {}
        for a in env.possible_agents:
            parts = []
            for dev in env.agent_dict[a].devices.values():
                if isinstance(dev, Generator):
                    parts.append(dev.action_for_setpoint(dev.config.p_max_MW,
                                                         dev.config.q_min_MVAr))
                else:
                    parts.append(np.zeros(dev.get_action_space().shape[0], dtype=np.float32))
            out[a] = ConstantPolicy(np.concatenate(parts))
        return out

    return PolicySpec("constant (p_max, absorb Q)", factory)


def bench_oracle(env: Any, days: list[int], horizon: int) -> dict[int, Any]:
    rn = RadialNetwork.from_net(env.net)
    print(f"{'day':>4} {'status':>10} {'data s':>7} {'build s':>8} {'compile s':>9} "
          f"{'solver s':>8} {'total s':>8} {'plan $':>10} {'bound $':>10} {'w':>4} {'ccp':>4}")
    results, totals = {}, []
    for day in days:
        t0 = time.perf_counter()
        sc = scenario_from_env(env, day, horizon)
        data_s = time.perf_counter() - t0
        res = solve_scenario(sc, network=rn)
        total = data_s + res.build_time_s + res.solve_time_s
        totals.append(total)
        results[day] = res
        print(f"{day:>4} {res.status:>10} {data_s:7.2f} {res.build_time_s:8.2f} "
              f"{res.solve_time_s - res.solver_time_s:9.2f} {res.solver_time_s:8.2f} "
              f"{total:8.2f} {res.objective:10.2f} {res.relaxed_objective:10.2f} "
              f"{res.loss_weight:4.1f} {res.ccp_iterations:4d}")
    worst = max(totals)
    print(f"oracle: mean {np.mean(totals):.2f} s, worst {worst:.2f} s per day; target < "
          f"{TARGET_S:.0f} s per 24-hour day: {_verdict(worst < TARGET_S)}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setup", default="ieee34_ieee13")
    ap.add_argument("--days", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--split", default="test", choices=("test", "train"))
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--forecast", default="persistence",
                    choices=("persistence", "seasonal", "perfect"))
    ap.add_argument("--baseline-days", default="all",
                    help="'all' test days, or the first N, for section 3")
    args = ap.parse_args()

    config = load_setup(args.setup)
    t0 = time.perf_counter()
    env = make_env(config, args.split, args.horizon)
    print(f"setup {args.setup}: env built in {time.perf_counter() - t0:.2f} s, "
          f"horizon {args.horizon} h, days {args.days}")

    print("\n== 1. oracle ==")
    oracle = bench_oracle(env, args.days, args.horizon)

    print(f"\n== 2. MPC ({args.forecast} forecasts) vs oracle, same days ==")
    mpc = f"mpc:{args.forecast}"
    spec = PolicySpec("oracle", lambda env, day: oracle[day].to_policies(env))
    t0 = time.perf_counter()
    df, _ = run_policies(env, [spec, mpc], args.days)
    wall = time.perf_counter() - t0
    by = df.set_index(["policy", "day"])
    print(f"{'day':>4} {'oracle $':>10} {'mpc $':>10} {'gap %':>7} {'ms/step':>8} "
          f"{'max ms':>7} {'failed':>6}")
    for day in args.days:
        o, m = by.loc[("oracle", day)], by.loc[(mpc, day)]
        print(f"{day:>4} {o.total_cost:10.2f} {m.total_cost:10.2f} "
              f"{gap_pct(m.total_cost, o.total_cost):7.2f} {m.mpc_solve_ms_mean:8.0f} "
              f"{m.mpc_solve_ms_max:7.0f} {int(m.mpc_failed_steps):6d}")
    mpc_rows = df[df.policy == mpc]
    o_mean = df[df.policy == "oracle"].total_cost.mean()
    m_mean = mpc_rows.total_cost.mean()
    step_ms = float(mpc_rows.mpc_solve_ms_mean.mean())
    print(f"mean: oracle {o_mean:.1f} $/day, MPC {m_mean:.1f} $/day, gap "
          f"{gap_pct(m_mean, o_mean):.2f} %; MPC {step_ms:.0f} ms per step (worst "
          f"{mpc_rows.mpc_solve_ms_max.max():.0f} ms), {wall:.0f} s in all")
    print(f"MPC solve time per step < {TARGET_STEP_MS:.0f} ms: {_verdict(step_ms < TARGET_STEP_MS)}")

    print("\n== 3. baselines ==")
    n_days = len(env.dataset[args.split]["load"]) // 24
    count = n_days if args.baseline_days == "all" else min(int(args.baseline_days), n_days)
    t0 = time.perf_counter()
    base, _ = run_policies(env, ["rule", "follow-load", "zero", constant_pmax_spec()],
                           count)
    table = summarize(base)
    print(f"{count} {args.split} days ({time.perf_counter() - t0:.0f} s)")
    print(f"{'policy':<28} {'$/day':>10} {'violation':>10} {'converged':>10}")
    for name, r in table.iterrows():
        print(f"{name:<28} {r.mean_cost_per_day:10.1f} {r.violation_rate:10.4f} "
              f"{r.convergence_rate:10.3f}")
    print(f"(oracle {o_mean:.1f}, MPC {m_mean:.1f} $/day on days {args.days})")
    rule, const = table.loc["rule"], table.loc["constant (p_max, absorb Q)"]
    print(f"rule at least as cheap as the constant policy ({rule.mean_cost_per_day:.1f} vs "
          f"{const.mean_cost_per_day:.1f} $/day): "
          f"{_verdict(rule.mean_cost_per_day <= const.mean_cost_per_day)}")
    print(f"rule beats zero and follow-load: "
          f"{_verdict(rule.mean_cost_per_day < min(table.loc['zero'].mean_cost_per_day, table.loc['follow-load'].mean_cost_per_day))}")


if __name__ == "__main__":
    main()

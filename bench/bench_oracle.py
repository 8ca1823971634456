"""Optimal-dispatch oracle: time to build and solve one 24-hour day.

For each day: reading the day's data from the environment, building the cvxpy model,
solving it (relaxation, exactness steps, battery fixing; split into cvxpy's
compilation and the solver itself), the replay through the environment and how the
replayed cost compares. Target: < 10 s per day in total (data + build + solve).

    python bench/bench_oracle.py [--setup ieee34_ieee13] [--days 0 1 2 3 4] [--split test]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from powergrid.optimization import RadialNetwork, make_env, replay, scenario_from_env
from powergrid.optimization.oracle import solve_scenario
from powergrid.setups.loader import load_setup

TARGET_S = 10.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setup", default="ieee34_ieee13")
    ap.add_argument("--days", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--split", default="test", choices=("test", "train"))
    ap.add_argument("--horizon", type=int, default=24)
    args = ap.parse_args()

    config = load_setup(args.setup)
    t0 = time.perf_counter()
    env = make_env(config, args.split, args.horizon)
    env_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rn = RadialNetwork.from_net(env.net)
    net_s = time.perf_counter() - t0
    print(f"setup {args.setup}: env built in {env_s:.2f} s, network model in {net_s:.3f} s "
          f"({rn.n_bus} buses, {rn.n_branch} branches), horizon {args.horizon} h")
    header = (f"{'day':>4} {'status':>10} {'data s':>7} {'build s':>8} {'compile s':>9} "
              f"{'solver s':>8} "
              f"{'total s':>8} {'cost $':>10} {'bound $':>10} {'w':>4} {'ccp':>4} "
              f"{'replay %':>9} {'|V| max':>8}")
    print(header)
    totals = []
    for day in args.days:
        t0 = time.perf_counter()
        sc = scenario_from_env(env, day, args.horizon)
        data_s = time.perf_counter() - t0
        res = solve_scenario(sc, network=rn)
        rep = replay(env, res)
        total = data_s + res.build_time_s + res.solve_time_s
        totals.append(total)
        compile_s = res.solve_time_s - res.solver_time_s
        print(f"{day:>4} {res.status:>10} {data_s:7.2f} {res.build_time_s:8.2f} "
              f"{compile_s:9.2f} {res.solver_time_s:8.2f} {total:8.2f} {res.objective:10.2f} "
              f"{res.relaxed_objective:10.2f} {res.loss_weight:4.1f} {res.ccp_iterations:4d} "
              f"{100 * rep.cost_rel_diff:+9.4f} {np.nanmax(rep.v_max):8.4f}")
    worst, mean = max(totals), float(np.mean(totals))
    verdict = "meets" if worst < TARGET_S else "MISSES"
    print(f"mean {mean:.2f} s, worst {worst:.2f} s per day: {verdict} the target of "
          f"< {TARGET_S:.0f} s per 24-hour day")


if __name__ == "__main__":
    main()

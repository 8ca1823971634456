"""Optimal-dispatch oracle and MPC on the same days: cost, gap, solve times, and the
baselines beside them.

1. Oracle, per day: reading the day's data from the environment, building the cvxpy
   model, solving it (relaxation, exactness steps, battery fixing; cvxpy's
   compilation and the solver itself apart), then the AC-feasibility correction
   (replay, re-solve of the hours whose regulators fall short). Both variants are
   kept: the corrected plan (the default) and the uncorrected one.
2. MPC (24 h horizon, re-planned hourly, plans trimmed at the episode's end) with
   perfect forecasts and with
   ``--forecast`` (persistence by default) on the same days: replayed cost, gap to the
   oracle, milliseconds per step.
3. MPC solve time per step. This covers every step of section 2, wall clock and this
   process's CPU time, and Clarabel's iterations. The reference, measured in the same
   run on the first day, is the same compiled model re-solved through cvxpy's
   ``Problem.solve`` (``backend="cvxpy"``). A ratio against it does not depend on how
   loaded the machine is. A second reference on that day plans the full horizon every
   hour (``trim_past_end=False``): what trimming the plans at the episode's end saves.
4. The baselines (``rule``, ``follow-load``, ``zero`` and the constant "generators at
   p_max, absorb Q") on ``--baseline-days`` (default: every test day).
5. The oracle's replay on the same days, both variants: voltage-violating agent-steps
   and replayed cost, uncorrected and AC-corrected.

It ends with one line per target, ``MET`` or ``NOT MET`` with the figure:

* MPC solve time < 100 ms per step (mean wall clock over every MPC step);
* perfect-forecast MPC within 0.5 % of the oracle (the worst day's |gap|);
* oracle replay without voltage violations on every day of section 5 (the default,
  corrected plan; the uncorrected plan's count is printed beside it);
* oracle < 10 s per day (data + build + solve + correction, worst day);
* ``rule`` at least as cheap as the constant policy, and cheaper than ``zero`` and
  ``follow-load``.

Every cost and rate comes from the one evaluation pipeline (``powergrid.evaluation``,
``powergrid.metrics``). Timings are wall clock on a possibly shared machine: the
CPU time and the ratio against the reference are the load-independent figures.

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
from powergrid.optimization.ac_correction import correct_by_replay
from powergrid.optimization.mpc import TARGET_STEP_MS, mpc_policies
from powergrid.optimization.oracle import solve_scenario
from powergrid.setups.loader import load_setup

TARGET_S = 10.0
#: perfect-forecast MPC against the oracle, |gap| on every day (%)
TARGET_PERFECT_GAP_PCT = 0.5


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def constant_pmax_spec() -> PolicySpec:
    """Generators at p_max absorbing all the reactive power they can, everything else 0."""
    from powergrid.agents.device_agent import Setpoint, capabilities_of

    def factory(env: Any, day: int) -> dict[str, Any]:
        out = {}
        for a in env.possible_agents:
            parts = []
            for dev in env.agent_dict[a].devices.values():
                if capabilities_of(dev).dispatchable:
                    lim = dev.limits()
                    parts.append(dev.action_for(Setpoint(lim.p_max_MW, lim.q_min_MVAr)))
                else:
                    parts.append(np.zeros(dev.get_action_space().shape[0], dtype=np.float32))
            out[a] = ConstantPolicy(np.concatenate(parts))
        return out

    return PolicySpec("constant (p_max, absorb Q)", factory)


def mpc_spec(name: str, plans: dict[int, list], **kwargs: Any) -> PolicySpec:
    """MPC with ``kwargs`` (controller options); each day's step plans go to ``plans``."""
    seen = {"n": 0, "ctrl": None}

    def factory(env: Any, day: int) -> dict[str, Any]:
        pols = mpc_policies(env, **kwargs)
        seen["ctrl"] = next(iter(pols.values())).controller
        seen["n"] = len(seen["ctrl"].plans)
        return pols

    def after_day(day: int) -> dict[str, Any]:
        plans[day] = seen["ctrl"].plans[seen["n"]:]
        ms = [p.solve_ms for p in plans[day]]
        return {"mpc_solve_ms_mean": float(np.mean(ms)),
                "mpc_failed_steps": sum(p.status not in ("optimal", "optimal_inaccurate")
                                        for p in plans[day])}

    return PolicySpec(name, factory, after_day=after_day)


def bench_oracle(env: Any, days: list[int], horizon: int) -> tuple[dict, dict, list[float]]:
    """Both oracle variants per day: (corrected, uncorrected, seconds per day)."""
    rn = RadialNetwork.from_net(env.net)
    print(f"{'day':>4} {'status':>8} {'data s':>7} {'build s':>8} {'compile s':>9} "
          f"{'solver s':>8} {'correct s':>9} {'total s':>8} {'plan $':>10} "
          f"{'uncorr. $':>10} {'bound $':>10} {'w':>4} {'ccp':>4} {'viol.':>5} {'fixed h':>8}")
    corrected, plain, totals = {}, {}, []
    for day in days:
        t0 = time.perf_counter()
        sc = scenario_from_env(env, day, horizon)
        data_s = time.perf_counter() - t0
        first = solve_scenario(sc, network=rn)
        t0 = time.perf_counter()
        best = correct_by_replay(env, sc, first, network=rn)
        correct_s = time.perf_counter() - t0
        # the replays and re-solves of the correction are in correct_s
        total = data_s + first.build_time_s + first.solve_time_s + correct_s
        totals.append(total)
        corrected[day], plain[day] = best, first
        print(f"{day:>4} {best.status:>8} {data_s:7.2f} {first.build_time_s:8.2f} "
              f"{first.solve_time_s - first.solver_time_s:9.2f} {first.solver_time_s:8.2f} "
              f"{correct_s:9.2f} {total:8.2f} {best.objective:10.2f} {first.objective:10.2f} "
              f"{first.relaxed_objective:10.2f} {first.loss_weight:4.1f} "
              f"{first.ccp_iterations:4d} {first.replay_violations:5d} "
              f"{','.join(map(str, best.fixed_tap_hours)) or '-':>8}")
    print(f"oracle: mean {np.mean(totals):.2f} s, worst {max(totals):.2f} s per day "
          "(viol.: voltage-violating agent-steps of the uncorrected plan's replay)")
    return corrected, plain, totals


def replay_both_variants(env: Any, days: int, horizon: int) -> list[tuple]:
    """Per day: (day, uncorrected violating agent-steps, corrected ones, uncorrected
    replayed $, corrected replayed $), from the correction's own replays."""
    rn = RadialNetwork.from_net(env.net)
    out = []
    for day in range(days):
        sc = scenario_from_env(env, day, horizon)
        first = solve_scenario(sc, network=rn)
        best = correct_by_replay(env, sc, first, network=rn)
        out.append((day, first.replay_violations, best.replay_violations, first.replay_cost,
                    best.replay_cost))
    return out


def _step_stats(plans: list) -> dict[str, float]:
    wall = np.array([p.solve_ms for p in plans])
    return {"steps": len(plans), "wall": float(wall.mean()),
            "p95": float(np.percentile(wall, 95)), "max": float(wall.max()),
            "cpu": float(np.mean([p.cpu_ms for p in plans])),
            "iters": float(np.mean([p.iterations for p in plans])),
            "solves": float(np.mean([p.solves for p in plans])),
            "hours": float(np.mean([p.hours for p in plans]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setup", default="ieee34_ieee13")
    ap.add_argument("--days", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--split", default="test", choices=("test", "train"))
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--forecast", default="persistence", choices=("persistence", "seasonal"))
    ap.add_argument("--baseline-days", default="all",
                    help="'all' test days, or the first N, for sections 4 and 5")
    args = ap.parse_args()
    targets: list[str] = []

    config = load_setup(args.setup)
    t0 = time.perf_counter()
    env = make_env(config, args.split, args.horizon)
    print(f"setup {args.setup}: env built in {time.perf_counter() - t0:.2f} s, "
          f"horizon {args.horizon} h, days {args.days}")

    print("\n== 1. oracle: AC-corrected (default) and uncorrected ==")
    oracle, plain, totals = bench_oracle(env, args.days, args.horizon)

    print(f"\n== 2. MPC (perfect and {args.forecast} forecasts) vs oracle, same days ==")
    fc = f"mpc:{args.forecast}"
    plans: dict[str, dict[int, list]] = {"mpc:perfect": {}, fc: {}}
    specs = [PolicySpec("oracle", lambda env, day: oracle[day].to_policies(env)),
             PolicySpec("oracle (uncorrected)", lambda env, day: plain[day].to_policies(env)),
             mpc_spec("mpc:perfect", plans["mpc:perfect"], forecast="perfect"),
             mpc_spec(fc, plans[fc], forecast=args.forecast)]
    t0 = time.perf_counter()
    df, _ = run_policies(env, specs, args.days)
    wall = time.perf_counter() - t0
    by = df.set_index(["policy", "day"])
    print(f"{'day':>4} {'oracle $':>10} {'uncorr. $':>10} {'perfect $':>10} {'gap %':>7} "
          f"{fc + ' $':>18} {'gap %':>7} {'ms/step':>8} {'ms/step':>8}")
    gaps = []
    for day in args.days:
        o = by.loc[("oracle", day)].total_cost
        u = by.loc[("oracle (uncorrected)", day)].total_cost
        p, f = by.loc[("mpc:perfect", day)], by.loc[(fc, day)]
        gaps.append(gap_pct(p.total_cost, o))
        print(f"{day:>4} {o:10.2f} {u:10.2f} {p.total_cost:10.2f} {gaps[-1]:7.2f} "
              f"{f.total_cost:18.2f} {gap_pct(f.total_cost, o):7.2f} "
              f"{p.mpc_solve_ms_mean:8.0f} {f.mpc_solve_ms_mean:8.0f}")
    table = summarize(df)
    for name in ("oracle", "oracle (uncorrected)", "mpc:perfect", fc):
        r = table.loc[name]
        print(f"  {name:<22} {r.mean_cost_per_day:10.1f} $/day, gap "
              f"{gap_pct(r.mean_cost_per_day, table.loc['oracle'].mean_cost_per_day):6.2f} %, "
              f"voltage violations {r.voltage_violation_rate:.5f} of agent-steps")
    print(f"({wall:.0f} s in all)")
    worst_gap = float(np.max(np.abs(gaps)))
    targets.append(f"perfect-forecast MPC within {TARGET_PERFECT_GAP_PCT} % of the oracle: "
                   f"{_verdict(worst_gap <= TARGET_PERFECT_GAP_PCT)} (worst day |gap| "
                   f"{worst_gap:.2f} %, mean {np.mean(gaps):+.2f} % on days {args.days})")
    print("\n== 3. MPC solve time per step ==")
    every = [p for per_day in plans.values() for day in args.days for p in per_day[day]]
    st = _step_stats(every)
    print(f"direct (Clarabel on the compiled problem), {st['steps']} steps: wall "
          f"{st['wall']:.1f} ms mean, p95 {st['p95']:.0f}, max {st['max']:.0f}; CPU "
          f"{st['cpu']:.1f} ms; {st['solves']:.2f} solves and {st['iters']:.1f} Clarabel "
          "iterations per step")
    ref_plans: dict[int, list] = {}
    day0 = args.days[0]
    run_policies(env, [mpc_spec("mpc:perfect (cvxpy)", ref_plans, forecast="perfect",
                                backend="cvxpy")], [day0])
    ref, same = _step_stats(ref_plans[day0]), _step_stats(plans["mpc:perfect"][day0])
    ratio = ref["wall"] / same["wall"]
    print(f"reference (cvxpy Problem.solve, same model) on day {day0}, perfect forecast: "
          f"wall {ref['wall']:.1f} ms per step (CPU {ref['cpu']:.1f}), direct {same['wall']:.1f}"
          f" (CPU {same['cpu']:.1f}): {ratio:.2f}x faster, {ref['iters']:.1f} vs "
          f"{same['iters']:.1f} iterations per step")
    full_plans: dict[int, list] = {}
    run_policies(env, [mpc_spec("mpc:perfect (24 h plans)", full_plans, forecast="perfect",
                                trim_past_end=False)], [day0])
    full = _step_stats(full_plans[day0])
    print(f"untrimmed (every plan {args.horizon} h, trim_past_end=False) on day {day0}, perfect "
          f"forecast: wall {full['wall']:.1f} ms per step (CPU {full['cpu']:.1f}), trimmed "
          f"{same['wall']:.1f} ({same['hours']:.1f} h planned per step on average): "
          f"{full['wall'] / same['wall']:.2f}x faster")
    targets.append(f"MPC solve time per step < {TARGET_STEP_MS:.0f} ms: "
                   f"{_verdict(st['wall'] < TARGET_STEP_MS)} ({st['wall']:.1f} ms wall mean over "
                   f"{st['steps']} steps, CPU {st['cpu']:.1f} ms, p95 {st['p95']:.0f} ms; "
                   f"{ratio:.2f}x faster than the cvxpy reference in this run)")
    targets.append(f"oracle < {TARGET_S:.0f} s per day: {_verdict(max(totals) < TARGET_S)} "
                   f"(worst {max(totals):.2f} s, mean {np.mean(totals):.2f} s, correction "
                   "included)")

    print("\n== 4. baselines ==")
    n_days = len(env.dataset[args.split]["load"]) // 24
    count = n_days if args.baseline_days == "all" else min(int(args.baseline_days), n_days)
    t0 = time.perf_counter()
    base, _ = run_policies(env, ["rule", "follow-load", "zero", constant_pmax_spec()],
                           count)
    btable = summarize(base)
    print(f"{count} {args.split} days ({time.perf_counter() - t0:.0f} s)")
    print(f"{'policy':<28} {'$/day':>10} {'violation':>10} {'converged':>10}")
    for name, r in btable.iterrows():
        print(f"{name:<28} {r.mean_cost_per_day:10.1f} {r.violation_rate:10.4f} "
              f"{r.convergence_rate:10.3f}")
    rule, const = btable.loc["rule"], btable.loc["constant (p_max, absorb Q)"]
    others = min(btable.loc["zero"].mean_cost_per_day,
                 btable.loc["follow-load"].mean_cost_per_day)
    targets.append(f"rule at least as cheap as the constant policy: "
                   f"{_verdict(rule.mean_cost_per_day <= const.mean_cost_per_day)} "
                   f"({rule.mean_cost_per_day:.1f} vs {const.mean_cost_per_day:.1f} $/day)")
    targets.append(f"rule beats zero and follow-load: "
                   f"{_verdict(rule.mean_cost_per_day < others)} "
                   f"({rule.mean_cost_per_day:.1f} vs {others:.1f} $/day)")

    print(f"\n== 5. oracle replay on {count} {args.split} days: AC-corrected and uncorrected ==")
    t0 = time.perf_counter()
    rows = replay_both_variants(env, count, args.horizon)
    steps = len(env.possible_agents) * args.horizon * count
    bad = [(d, u, c) for d, u, c, *_ in rows if u or c]
    v_corr, v_plain = sum(r[2] for r in rows), sum(r[1] for r in rows)
    cost_corr, cost_plain = np.mean([r[4] for r in rows]), np.mean([r[3] for r in rows])
    print(f"days with violating agent-steps (day, uncorrected, corrected): {bad or 'none'}")
    print(f"uncorrected: {v_plain} of {steps} agent-steps ({100 * v_plain / steps:.3f} %), "
          f"{cost_plain:.2f} $/day; AC-corrected: {v_corr} ({100 * v_corr / steps:.3f} %), "
          f"{cost_corr:.2f} $/day ({cost_corr - cost_plain:+.2f} $/day); replayed costs "
          f"({time.perf_counter() - t0:.0f} s)")
    targets.append(f"oracle replay without voltage violations: {_verdict(v_corr == 0)} "
                   f"(AC-corrected {v_corr} of {steps} agent-steps on {count} days, "
                   f"{cost_corr:.2f} $/day; uncorrected {v_plain}, {cost_plain:.2f} $/day; "
                   "both reported)")

    print("\n== targets ==")
    for line in targets:
        print(line)


if __name__ == "__main__":
    main()

"""Training benchmark: does MAPPO learn the default setup, and how fast?

Trains ``ieee34_ieee13`` (or ``--setup``) with the case study's default
hyper-parameters (``powergrid.training.TRAIN_DEFAULTS``) for a fixed wall-clock
budget, then evaluates the final checkpoint deterministically on the test split
against the random and rule-based policies *in the same run* (same machine, same
days), and prints:

* the learning curve: iteration, env steps, return mean, cost, violation rate;
* env steps/s end to end (Ray start, env building and learning included) and of
  the training loop alone;
* the test-split comparison table and whether the learnt policy beats both
  baselines on cost at no more violations.

    python bench/bench_training.py                 # 20 minutes on 2 cores
    python bench/bench_training.py --minutes 5 --eval-days 14
    python bench/bench_training.py --minutes 5 -- --lr 1e-3 --num-epochs 4   # any training flag

Exit status 1 when the learnt policy does not beat both baselines, so the benchmark
can gate a change to the training stack.

``--trainer torchrl`` benchmarks the TorchRL trainer on the vectorized env instead:
it trains for ``--minutes``, then RLlib for ``--rllib-minutes`` (shorter) in the same
run, and prints the learning curve, both trainers' env steps/s end to end (process
work from building the env to the last update; Ray start included for RLlib) and
in the training loop, their ratio, and MET / NOT MET for the throughput targets of
issue 16 (>= 5,000 env steps/s end to end, >= 10x RLlib). With ``--evaluate`` it
also trains ``--seeds`` seeds and scores each on the test days against oracle,
random, rule and zero; the learning targets (3 seeds x 10 min on all 84 days: gap
to the oracle <= 3 %, violation rate <= 0.5 %) get MET / NOT MET only when run
with that protocol, NOT RUN (with the measured figure) otherwise. Exit status 1
when a throughput target is not met::

    python bench/bench_training.py --trainer torchrl --minutes 2 --rllib-minutes 1
    python bench/bench_training.py --trainer torchrl --minutes 2 -- --algo mappo-cc
    python bench/bench_training.py --trainer torchrl --minutes 10 --evaluate --seeds 3 \
        -- --algo mappo-cc                                  # the targets' protocol, ~35 min
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from powergrid.evaluate_checkpoint import BASELINES, evaluate_checkpoint, format_table
from powergrid.training import DEFAULT_SETUP, env_config_for, make_env, parse_config


def learning_curve_table(history: list[dict[str, float]], every: int = 1) -> str:
    """One line per ``every``-th iteration (and the last one)."""
    lines = [f"{'iter':>5} {'env steps':>10} {'return mean':>12} {'cost mean':>11} "
             f"{'violation':>10} {'iter s':>7}"]
    for i, row in enumerate(history):
        if i % every and i != len(history) - 1:
            continue
        steps = 0 if math.isnan(row["env_steps"]) else int(row["env_steps"])
        lines.append(f"{row['iteration']:>5d} {steps:>10d} {row['episode_return_mean']:>12.3f} "
                     f"{row['cost_mean']:>11.1f} {row['violation_rate']:>10.3f} "
                     f"{row['iter_time_s']:>7.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_flags: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, train_flags = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20.0, help="training wall-clock budget")
    p.add_argument("--setup", default=DEFAULT_SETUP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-days", type=int, default=None, help="test days (default: all)")
    p.add_argument("--out", default="runs/bench_training", help="root of the run folder")
    p.add_argument("--trainer", choices=("rllib", "torchrl"), default="rllib",
                   help="torchrl: benchmark the TorchRL trainer against a shorter RLlib run")
    p.add_argument("--rllib-minutes", type=float, default=None,
                   help="with --trainer torchrl: RLlib's budget (default: a third of "
                        "--minutes, at most 2)")
    p.add_argument("--seeds", type=int, default=1,
                   help="with --trainer torchrl --evaluate: seeds trained one after the other "
                        "(the targets use 3)")
    p.add_argument("--evaluate", action="store_true",
                   help="with --trainer torchrl: evaluate each seed's policy on the test days "
                        "against oracle, random, rule and zero")
    args = p.parse_args(argv)
    if args.trainer == "torchrl":
        return bench_torchrl(args, train_flags)

    from heron.training.runner import train

    cfg = parse_config([
        "--setup", args.setup, "--seed", str(args.seed), "--iterations", "1000000",
        "--max-minutes", str(args.minutes), "--checkpoint-dir", args.out, "--no-cuda",
        "--no-tensorboard", *train_flags,
    ])
    print(f"bench_training: {args.setup}, algo {cfg.algo}, budget {args.minutes:g} min")
    print("hyper-parameters: " + ", ".join(
        f"{k}={getattr(cfg, k)}" for k in (
            "lr", "gamma", "lambda_", "train_batch_size", "minibatch_size", "num_epochs",
            "hidden_sizes", "entropy_coeff", "reward_scale", "normalize_obs",
            "num_envs_per_worker", "num_workers", "share_reward", "seed")))
    t0 = time.perf_counter()
    result = train(cfg, make_env, env_config_for(cfg), log=lambda s: print(s, flush=True))
    wall = time.perf_counter() - t0
    history = result.history
    if not history or result.final_checkpoint is None:
        print("no iteration finished: nothing to evaluate")
        return 1
    steps = history[-1]["env_steps"]
    loop_s = sum(row["iter_time_s"] for row in history)

    t1 = time.perf_counter()
    report = evaluate_checkpoint(result.final_checkpoint, args.setup, args.eval_days,
                                 Path(result.run_dir) / "evaluation", seed=args.seed)
    eval_s = time.perf_counter() - t1

    print("\n== learning curve ==")
    print(learning_curve_table(history, every=max(1, len(history) // 25)))
    print("\n== throughput ==")
    print(f"{len(history)} iterations, {int(steps)} env steps in {wall:.0f} s wall clock: "
          f"{steps / wall:.1f} env steps/s end to end, {steps / loop_s:.1f} in the "
          "training loop")
    print(f"\n== test split: {report['days']} days, deterministic (evaluation {eval_s:.0f} s) ==")
    print(format_table(report))
    ok = True
    for base in BASELINES:
        c = report["comparison"][base]
        verdict = "beats" if c["beats_on_cost"] and c["no_more_violations"] else "DOES NOT beat"
        ok &= verdict == "beats"
        print(f"learnt {verdict} {base}: {c['cost_saving']:+.1f} $/day "
              f"({c['cost_saving_pct']:+.1f}%), violation rate "
              f"{report['policies']['learnt']['violation_rate']:.3f} vs "
              f"{report['policies'][base]['violation_rate']:.3f}")
    print(f"\nrun folder: {result.run_dir}")
    print(f"evaluation: {report['files']['json']}")
    return 0 if ok else 1


#: Issue 16's throughput targets on the 2-core machine.
TARGET_STEPS_PER_S = 5000.0
TARGET_RATIO = 10.0
LEARNING_TARGETS = (
    "gap to the oracle <= 3 % (mean of 3 seeds, 10-minute budget, 84 test days)",
    "violation rate <= 0.5 % (same runs)",
    "batteries do arbitrage (same runs)",
    "mappo-lag violation rate beside mappo-cc's",
)


def timed_run(flags: list[str], log) -> tuple[dict[str, float], object]:
    """Train with ``flags``; throughput from the env build to the last update."""
    from heron.training.runner import train as rllib_train

    cfg = parse_config(flags)
    t0 = time.perf_counter()
    if cfg.trainer == "torchrl":
        from heron.training.torchrl import train as torchrl_train
        from powergrid.training import make_vector_env

        result = torchrl_train(cfg, make_vector_env, env_config_for(cfg), log=log)
    else:
        result = rllib_train(cfg, make_env, env_config_for(cfg), log=log)
    wall = time.perf_counter() - t0
    history = result.history
    steps = history[-1]["env_steps"] if history else 0.0
    loop = sum(row["iter_time_s"] for row in history) or math.nan
    # the fastest iteration: on a shared machine the least disturbed by other jobs
    prev = [0.0] + [row["env_steps"] for row in history[:-1]]
    best = max(((row["env_steps"] - p) / row["iter_time_s"] for row, p in zip(history, prev)
                if row["iter_time_s"] > 0), default=math.nan)
    return {"trainer": cfg.trainer, "algo": cfg.algo, "iterations": len(history),
            "env_steps": steps, "wall_s": wall, "end_to_end": steps / wall,
            "loop": steps / loop, "best": best}, result


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def bench_torchrl(args: argparse.Namespace, train_flags: list[str]) -> int:
    """TorchRL for ``--minutes``, RLlib for ``--rllib-minutes``, same machine, same run."""
    rllib_minutes = args.rllib_minutes if args.rllib_minutes is not None else min(
        2.0, args.minutes / 3)
    common = ["--setup", args.setup, "--seed", str(args.seed), "--iterations", "1000000",
              "--checkpoint-dir", args.out, "--no-cuda", "--no-tensorboard"]
    tr_flags = [*common, "--trainer", "torchrl", "--max-minutes", str(args.minutes),
                *train_flags]
    cfg = parse_config(tr_flags)
    # the same algorithm on RLlib (which has no mappo-lag: its unconstrained mappo-cc)
    rl_algo = "mappo-cc" if cfg.algo == "mappo-lag" else cfg.algo
    rl_flags = [*common, "--max-minutes", str(rllib_minutes), "--quiet", "--algo", rl_algo]
    print(f"bench_training --trainer torchrl: {args.setup}, algo {cfg.algo}, "
          f"{cfg.num_envs_per_worker} copies, budget {args.minutes:g} min (RLlib "
          f"{rllib_minutes:g} min)", flush=True)
    quiet = lambda s: None  # noqa: E731
    torchrl_stats, result = timed_run(tr_flags, quiet)
    rllib_stats, _ = timed_run(rl_flags, quiet)

    print("\n== learning curve (torchrl) ==")
    print(learning_curve_table(result.history, every=max(1, len(result.history) // 25)))
    print("\n== throughput (env steps/s) ==")
    print(f"{'trainer':>8} {'algo':>9} {'iters':>6} {'env steps':>10} {'wall s':>7} "
          f"{'end to end':>11} {'loop':>9} {'best iter':>10}")
    for s in (torchrl_stats, rllib_stats):
        print(f"{s['trainer']:>8} {s['algo']:>9} {s['iterations']:>6d} {int(s['env_steps']):>10d} "
              f"{s['wall_s']:>7.0f} {s['end_to_end']:>11.1f} {s['loop']:>9.1f} "
              f"{s['best']:>10.1f}")
    ratio = torchrl_stats["end_to_end"] / rllib_stats["end_to_end"] \
        if rllib_stats["end_to_end"] > 0 else math.inf
    print(f"ratio torchrl / rllib: {ratio:.1f}x end to end, "
          f"{torchrl_stats['loop'] / rllib_stats['loop']:.1f}x in the training loop, "
          f"{torchrl_stats['best'] / rllib_stats['best']:.1f}x fastest iteration against "
          "fastest iteration")
    print("(the trainers run one after the other: on a shared machine other jobs can slow "
          "one more than the other; 'best iter' is the least disturbed figure)")
    fast = torchrl_stats["end_to_end"] >= TARGET_STEPS_PER_S
    faster = ratio >= TARGET_RATIO
    print("\n== targets ==")
    print(f"{verdict(fast)}: >= {TARGET_STEPS_PER_S:,.0f} env steps/s end to end "
          f"({torchrl_stats['end_to_end']:,.0f})")
    print(f"{verdict(faster)}: >= {TARGET_RATIO:g}x RLlib in the same run ({ratio:.1f}x)")
    if args.evaluate:
        runs = [result.final_checkpoint]
        for k in range(1, max(1, args.seeds)):
            flags = [*tr_flags, "--seed", str(args.seed + k), "--quiet"]
            runs.append(timed_run(flags, quiet)[1].final_checkpoint)
        learning_targets(args, [evaluate_torchrl(c, args) for c in runs])
    else:
        for target in LEARNING_TARGETS:
            print(f"NOT RUN: {target} (pass --evaluate --seeds 3 --minutes 10)")
    print(f"\nrun folder: {result.run_dir}")
    return 0 if fast and faster else 1


TORCHRL_BASELINES = ("oracle", "random", "rule", "zero")


def evaluate_torchrl(checkpoint, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Deterministic test-day scores of a TorchRL checkpoint and the baselines, per policy:
    mean daily cost and violation rate (the pipeline of ``heron-power evaluate``)."""
    from heron.training.torchrl.policy import load_torchrl_policies
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
    from powergrid.evaluate_checkpoint import DAY_STEPS, _policy_report, evaluation_env_config
    from powergrid.evaluation import PolicySpec, run_policies

    env = MultiAgentMicrogrids(evaluation_env_config(Path(checkpoint), args.setup))
    days = args.eval_days or len(env.dataset["test"]["load"]) // DAY_STEPS
    specs = [PolicySpec("learnt", lambda env, day: load_torchrl_policies(checkpoint, env=env)),
             *TORCHRL_BASELINES]
    df, _ = run_policies(env, specs, days, seed=args.seed)
    out = {label: _policy_report(df, label) for label in df.policy.unique()}
    out["_days"] = {"days": float(days)}
    return out


def learning_targets(args: argparse.Namespace, reports: list[dict[str, Any]]) -> None:
    """Per seed and mean: cost, gap to the oracle, violation rate; MET / NOT MET only
    when the run followed the targets' protocol (3 seeds, 10 minutes, every test day)."""
    days = int(reports[0]["_days"]["days"])
    print(f"\n== test split: {days} days, deterministic, {len(reports)} seed(s) ==")
    print(f"{'seed':>5} {'policy':>8} {'$/day':>10} {'gap %':>7} {'violation':>10}")
    gaps, viols = [], []
    for k, rep in enumerate(reports):
        oracle = rep["oracle"]["mean_daily_cost"]
        for label in ("learnt", *TORCHRL_BASELINES):
            cost = rep[label]["mean_daily_cost"]
            gap = 100.0 * (cost - oracle) / abs(oracle)
            print(f"{args.seed + k:>5} {label:>8} {cost:>10.1f} {gap:>7.1f} "
                  f"{rep[label]['violation_rate']:>10.4f}")
        gaps.append(100.0 * (rep["learnt"]["mean_daily_cost"] - oracle) / abs(oracle))
        viols.append(rep["learnt"]["violation_rate"])
    gap, viol = sum(gaps) / len(gaps), sum(viols) / len(viols)
    print(f"mean over seeds: gap to the oracle {gap:.1f} %, violation rate {100 * viol:.2f} %")
    protocol = len(reports) >= 3 and args.minutes >= 10 and days >= 84
    tag = (lambda ok: verdict(ok)) if protocol else (lambda ok: "NOT RUN (protocol: 3 seeds x "
                                                      "10 min, 84 days; measured)")
    print(f"{tag(gap <= 3.0)}: gap to the oracle <= 3 % ({gap:.1f} %)")
    print(f"{tag(viol <= 0.005)}: violation rate <= 0.5 % ({100 * viol:.2f} %)")
    for target in LEARNING_TARGETS[2:]:
        print(f"NOT RUN: {target}")


if __name__ == "__main__":
    sys.exit(main())

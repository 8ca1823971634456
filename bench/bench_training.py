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
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

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
    args = p.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())

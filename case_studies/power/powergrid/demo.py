"""`make demo`: the main job on the embedded defaults.

1. builds the default setup (three IEEE 13-bus microgrids on the IEEE 34-bus feeder,
   SimBench-derived load/PV/wind profiles) and shows its size and speed;
2. optionally trains MAPPO for a few minutes (``--train-minutes``);
3. evaluates, over test days, the optimal-dispatch oracle, the operator's rule, the
   naive follow-load rule, a random and a do-nothing controller, and the trained policy
   (the bundled pre-trained one, built by ``make pretrained``, and/or the one just
   trained), all through the one evaluation pipeline (``powergrid.evaluation``);
4. prints the comparison table (cost, optimality gap, score, violations, convergence)
   and writes the report and plots to a run folder whose path it prints.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.evaluation import DEFAULT_POLICIES, checkpoint_spec, evaluate
from powergrid.metrics import summarize
from powergrid.pretrained import BUNDLED_ALGO, pretrained_checkpoint
from powergrid.rollout import measure_steps_per_s
from powergrid.setups.loader import load_setup


def _train(setup: str, minutes: float, out: Path, trainer: str) -> Path:
    from powergrid.training import DEMO_ALGO
    from powergrid.training import main as train_main

    print(f"[demo] training {DEMO_ALGO} with {trainer} for {minutes:g} min ...")
    result = train_main(["--trainer", trainer, "--algo", DEMO_ALGO, "--setup", setup,
                         "--max-minutes", str(minutes), "--iterations", "100000",
                         "--checkpoint-dir", str(out / "training")])
    if result.final_checkpoint is None:
        raise SystemExit("[demo] training finished no iteration: nothing to evaluate "
                         "(give it more --train-minutes).")
    return Path(result.final_checkpoint)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", default="ieee34_ieee13")
    parser.add_argument("--days", type=int, default=3, help="test days to evaluate")
    parser.add_argument("--train-minutes", type=float, default=0.0,
                        help="also train for this long and evaluate the policy (0: skip)")
    parser.add_argument("--trainer", choices=["torchrl", "rllib"], default=None,
                        help="trainer for --train-minutes (default: heron-power train's, "
                             "torchrl)")
    parser.add_argument("--out", default=None, help="run folder (default runs/demo-<time>)")
    args = parser.parse_args(argv)

    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = load_setup(args.setup)
    env = MultiAgentMicrogrids({**config, "train": False, "max_episode_steps": 24})
    print(f"[demo] setup {args.setup!r}: {len(env.net.bus)} buses, {len(env.net.line)} lines, "
          f"{len(env.net.trafo)} transformers; agents {env.possible_agents}; "
          f"power flow: {env.backend}")
    for a in env.possible_agents:
        ag = env.agent_dict[a]
        print(f"[demo]   {a}: devices {list(ag.devices)}, observation dim "
              f"{env.observation_space(a).shape[0]}, action dim {env.action_space(a).shape[0]}")
    speed = measure_steps_per_s(config)["steps_per_s"]
    print(f"[demo] environment speed: {speed:.0f} steps/s with random actions")

    policies: list = list(DEFAULT_POLICIES)
    bundled = pretrained_checkpoint(args.setup)
    if bundled is not None:
        policies.append(checkpoint_spec(bundled, name=f"{BUNDLED_ALGO} (bundled)"))
    else:
        print(f"[demo] no bundled policy for {args.setup!r} (build one with `make pretrained`)")
    if args.train_minutes > 0:
        from powergrid.training import CLI_DEFAULT_TRAINER, DEMO_ALGO

        trainer = args.trainer or CLI_DEFAULT_TRAINER
        ckpt = _train(args.setup, args.train_minutes, out, trainer)
        policies.append(checkpoint_spec(
            ckpt, name=f"{DEMO_ALGO} ({trainer}, {args.train_minutes:g} min)"))

    print(f"[demo] evaluating {len(policies)} policies on {args.days} test day(s) ...")
    df = evaluate(args.setup, policies, days=args.days, out_dir=out)
    table = summarize(df).reset_index()
    (out / "config.json").write_text(json.dumps(
        {k: v for k, v in config.items() if k != "dataset"}, indent=2, default=str))

    print(f"\n[demo] {args.days} test day(s); cost in $ per day summed over microgrids "
          "(negative = net revenue from selling to the DSO; lower is better)")
    print(f"{'policy':<18} {'cost/day':>10} {'95 % CI (days)':>18} {'gap to oracle':>14} {'score':>6} "
          f"{'voltage viol.':>14} {'line viol.':>11} {'converged':>10}")
    for r in table.to_dict("records"):
        ci = f"[{r['cost_ci95_low']:.0f}, {r['cost_ci95_high']:.0f}]"
        print(f"{r['policy']:<18} {r['mean_cost_per_day']:>10.1f} {ci:>18} "
              f"{r['optimality_gap_pct']:>13.1f}% {r['score']:>6.1f} "
              f"{r['voltage_violation_rate']:>13.1%} "
              f"{r['line_violation_rate']:>10.1%} {r['convergence_rate']:>10.0%}")
    print(f"\n[demo] report (results.md/csv/json) and plots (costs_per_day.png, "
          f"day_<d>.png) in {out.resolve()}  ({time.perf_counter() - t0:.0f} s)")
    return out


if __name__ == "__main__":
    main()

"""Score a trained checkpoint on the test split against the random and rule baselines.

A learning curve only says the training return went up; whether the policy is any
good is decided on days it never saw, against what an operator would do without
RL. This module runs the checkpoint *deterministically* (the Gaussian's mean: the
action a deployed controller would take) and the baselines over the same test days
through the same loop (:func:`powergrid.rollout.run_episode`), so every number is
comparable, and writes ``evaluation.json`` and ``evaluation.png``::

    python -m powergrid.evaluate_checkpoint runs/mappo-.../checkpoints/final --days 14

The days are run by :func:`powergrid.evaluation.run_policies` and scored by
:mod:`powergrid.metrics` (the one definition of every metric, shared with
``heron-power evaluate`` and the demo); this module only adds the checkpoint I/O
and the report. Per policy: mean daily cost (sum over microgrids and hours, $;
negative is a profit from selling to the DSO), the voltage / line / any violation
rates and the convergence rate as :mod:`powergrid.metrics` defines them, and mean
daily reward. ``comparison`` holds the learnt policy's margin over each baseline
(positive ``cost_saving``: the learnt policy is cheaper).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Baselines every checkpoint is compared with: the evaluation pipeline's own list
from powergrid.evaluation import BASELINES

#: Label of the checkpoint's policy in the results.
LEARNT = "learnt"
#: Evaluation episodes are whole days of the test split.
DAY_STEPS = 24


def resolve_checkpoint(path: str | Path) -> Path:
    """Accept a checkpoint folder or a run folder (then its ``checkpoints/final``)."""
    from heron.training.evaluate import TORCHRL_METADATA_FILE
    from heron.training.rllib import METADATA_FILE

    p = Path(path).resolve()
    markers = (METADATA_FILE, TORCHRL_METADATA_FILE)  # an RLlib or a TorchRL checkpoint
    if any((p / m).exists() for m in markers):
        return p
    for name in ("final", "interrupted"):
        if any((p / "checkpoints" / name / m).exists() for m in markers):
            return p / "checkpoints" / name
    raise FileNotFoundError(
        f"{str(path)!r} is neither a heron checkpoint (no {METADATA_FILE}) nor a run "
        "folder with checkpoints/final."
    )


def _run_config(checkpoint: Path) -> dict[str, Any]:
    """The run's ``config.json`` (run_dir/checkpoints/<name>/ -> run_dir), if any."""
    path = checkpoint.parent.parent / "config.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def evaluation_env_config(checkpoint: Path, setup: str | None = None) -> dict[str, Any]:
    """Test-split, one-day env_config for ``setup`` (default: the setup trained on).

    Only the protocol is taken from the training run besides the setup: it changes
    the action space, so the checkpoint cannot act without it; everything else
    (penalty, data, network) comes from the setup so that baselines and checkpoint
    are scored on the identical task.
    """
    from powergrid.setups.loader import load_setup
    from powergrid.training import DEFAULT_SETUP

    run = _run_config(checkpoint)
    setup = setup or (run.get("train") or {}).get("setup") or DEFAULT_SETUP
    cfg = dict(load_setup(setup))
    protocol = (run.get("env_config") or {}).get("protocol")
    if protocol is not None:
        cfg["protocol"] = protocol
    cfg.update({"train": False, "max_episode_steps": DAY_STEPS})
    return cfg


def _policy_report(df: Any, label: str) -> dict[str, Any]:
    """One policy's entry of the report, from the pipeline's per-day rows."""
    from powergrid.metrics import summarize

    rows = df[df.policy == label].sort_values("day")
    summary = summarize(df).loc[label]
    return {
        "mean_daily_cost": float(summary.mean_cost_per_day),
        "mean_daily_cost_ci95": [float(summary.cost_ci95_low), float(summary.cost_ci95_high)],
        "std_daily_cost": float(rows.total_cost.std(ddof=0)),
        "mean_daily_reward": float(rows.total_reward.mean()),
        "violation_rate": float(summary.violation_rate),
        "voltage_violation_rate": float(summary.voltage_violation_rate),
        "line_violation_rate": float(summary.line_violation_rate),
        "convergence_rate": float(summary.convergence_rate),
        "complete_days": float((rows.steps == DAY_STEPS).mean()),
        "daily_cost": [float(c) for c in rows.total_cost],
        "seconds": float(rows.seconds.sum()),
    }


def compare(results: dict[str, dict[str, Any]], learnt: str = LEARNT) -> dict[str, Any]:
    """The learnt policy's margin over each other policy (positive = learnt is better)."""
    mine = results[learnt]
    out = {}
    for label, base in results.items():
        if label == learnt:
            continue
        saving = base["mean_daily_cost"] - mine["mean_daily_cost"]
        denom = abs(base["mean_daily_cost"])
        out[label] = {
            "cost_saving": saving,
            "cost_saving_pct": 100.0 * saving / denom if denom > 1e-9 else math.nan,
            "violation_rate_diff": mine["violation_rate"] - base["violation_rate"],
            "beats_on_cost": saving > 0,
            "no_more_violations": mine["violation_rate"] <= base["violation_rate"] + 1e-12,
        }
    return out


def evaluate_checkpoint(
    checkpoint: str | Path,
    setup: str | None = None,
    days: int | None = None,
    out_dir: str | Path | None = None,
    *,
    baselines: Sequence[str] = BASELINES,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` and ``baselines`` on the first ``days`` test days.

    ``checkpoint`` may also be a run folder. ``days=None`` uses the whole test split.
    Writes ``evaluation.json`` and ``evaluation.png`` to ``out_dir`` when given and
    returns the same dict (``policies``, ``comparison``, run facts and ``files``).
    """
    from heron.training.evaluate import load_policies
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
    from powergrid.evaluation import PolicySpec, plot_summary, run_policies

    ckpt = resolve_checkpoint(checkpoint)
    env_config = evaluation_env_config(ckpt, setup)
    env = MultiAgentMicrogrids(env_config)
    available = len(env.dataset["test"]["load"]) // DAY_STEPS
    days = available if days is None else int(days)
    if not 1 <= days <= available:
        raise ValueError(f"days must be in 1..{available} (test days in the dataset), got {days}.")
    learnt = load_policies(ckpt, deterministic=True)
    missing = set(env.possible_agents) - set(learnt)
    if missing:
        raise ValueError(f"Checkpoint has no policy for agent(s) {sorted(missing)}; it was "
                         f"trained on other agents ({sorted(learnt)}). Pass the right setup.")
    specs: list[Any] = [PolicySpec(LEARNT, lambda env, day: learnt), *baselines]
    df, _ = run_policies(env, specs, days, seed=seed)
    failed = df[df.error.astype(str) != ""]
    if len(failed):
        raise RuntimeError("evaluation failed: " + "; ".join(
            f"{r.policy} day {r.day}: {r.error}" for r in failed.itertuples()))
    results = {label: _policy_report(df, label) for label in df.policy.unique()}
    run = _run_config(ckpt)
    report: dict[str, Any] = {
        "checkpoint": str(ckpt),
        "setup": (run.get("train") or {}).get("setup") if setup is None else setup,
        "split": "test",
        "days": days,
        "deterministic": True,
        "seed": seed,
        "policies": results,
        "comparison": compare(results),
        "files": {},
    }
    if report["setup"] is None:
        from powergrid.training import DEFAULT_SETUP

        report["setup"] = DEFAULT_SETUP
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        report["files"] = {"json": str(out / "evaluation.json"),
                           "plot": str(out / "evaluation.png")}
        plot_summary(df, out / "evaluation.png",
                     title=f"{report['setup']}: {days} test days, deterministic")
        (out / "evaluation.json").write_text(json.dumps(report, indent=2))
    return report


def format_table(report: dict[str, Any]) -> str:
    """Human-readable table of a report (what the CLI and the benchmark print)."""
    lines = [f"{'policy':<11} {'mean daily cost $':>18} {'violation rate':>15} "
             f"{'convergence':>12} {'vs learnt $/day':>16}"]
    comp = report["comparison"]
    for label, r in report["policies"].items():
        margin = "" if label not in comp else (
            f"{comp[label]['cost_saving']:+.1f} ({comp[label]['cost_saving_pct']:+.1f}%)")
        lines.append(f"{label:<11} {r['mean_daily_cost']:>18.1f} {r['violation_rate']:>15.3f} "
                     f"{r['convergence_rate']:>12.3f} {margin:>16}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m powergrid.evaluate_checkpoint CKPT [--days N] [--out DIR]``."""
    p = argparse.ArgumentParser(
        prog="python -m powergrid.evaluate_checkpoint",
        description="Evaluate a trained checkpoint on the test split against the "
                    f"baselines {', '.join(BASELINES)} (deterministic actions).")
    p.add_argument("checkpoint", help="checkpoint folder or run folder")
    p.add_argument("--setup", default=None, help="setup (default: the one trained on)")
    p.add_argument("--days", type=int, default=None, help="test days (default: all)")
    p.add_argument("--out", default=None,
                   help="report folder (default: <run folder>/evaluation)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        ckpt = resolve_checkpoint(args.checkpoint)
    except FileNotFoundError as exc:
        raise SystemExit(f"error: {exc}") from exc
    out = Path(args.out) if args.out else ckpt.parent.parent / "evaluation"
    report = evaluate_checkpoint(ckpt, args.setup, args.days, out, seed=args.seed)
    print(f"{report['setup']}: {report['days']} test days, deterministic policy")
    print(format_table(report))
    print(f"report: {report['files']['json']}  plot: {report['files']['plot']}")
    return report


if __name__ == "__main__":
    main()

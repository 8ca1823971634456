"""Score a trained checkpoint on the test split against the random and rule baselines.

A learning curve only says the training return went up; whether the policy is any
good is decided on days it never saw, against what an operator would do without
RL. This module runs the checkpoint *deterministically* (the Gaussian's mean: the
action a deployed controller would take) and the baselines over the same test days
through the same loop (:func:`powergrid.rollout.run_episode`), so every number is
comparable, and writes ``evaluation.json`` and ``evaluation.png``::

    python -m powergrid.evaluate_checkpoint runs/mappo-.../checkpoints/final --days 14

Metrics per policy: mean daily cost (sum over microgrids and hours, $; negative is
a profit from selling to the DSO), violation rate (fraction of microgrid-hours with
``safety > 0``), convergence rate (fraction of power flows that converged) and
mean daily reward. ``comparison`` holds the learnt policy's margin over each
baseline (positive ``cost_saving``: the learnt policy is cheaper).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Label of the checkpoint's policy in the results.
LEARNT = "learnt"
#: Baselines every checkpoint is compared with.
BASELINES: tuple[str, ...] = ("random", "rule")
#: Evaluation episodes are whole days of the test split.
DAY_STEPS = 24


def resolve_checkpoint(path: str | Path) -> Path:
    """Accept a checkpoint folder or a run folder (then its ``checkpoints/final``)."""
    from heron.training.rllib import METADATA_FILE

    p = Path(path).resolve()
    if (p / METADATA_FILE).exists():
        return p
    for name in ("final", "interrupted"):
        if (p / "checkpoints" / name / METADATA_FILE).exists():
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


def summarise_days(records: list[Any]) -> dict[str, Any]:
    """Per-policy metrics from one :class:`~powergrid.rollout.EpisodeRecord` per day."""
    rows = [r for rec in records for r in rec.rows]
    daily_cost = [rec.total("cost") for rec in records]
    daily_reward = [rec.total("reward") for rec in records]
    n_steps = [len({r["step"] for r in rec.rows}) for rec in records]
    return {
        "mean_daily_cost": float(np.mean(daily_cost)),
        "std_daily_cost": float(np.std(daily_cost)),
        "mean_daily_reward": float(np.mean(daily_reward)),
        "violation_rate": float(np.mean([r["safety"] > 1e-9 for r in rows])) if rows else 0.0,
        "convergence_rate": float(np.mean([bool(r["converged"]) for r in rows])) if rows else 1.0,
        "complete_days": float(np.mean([n == DAY_STEPS for n in n_steps])),
        "daily_cost": [float(c) for c in daily_cost],
    }


def evaluate_policy_sets(
    env: Any, policy_sets: dict[str, dict[str, Any]], days: int, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Run every policy set over test days ``0..days-1`` with the same seed."""
    from powergrid.rollout import run_episode

    out = {}
    for label, policies in policy_sets.items():
        t0 = time.perf_counter()
        records = [run_episode(env, policies, seed=seed, options={"day": d})
                   for d in range(days)]
        out[label] = summarise_days(records)
        out[label]["seconds"] = time.perf_counter() - t0
    return out


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


def plot_evaluation(results: dict[str, dict[str, Any]], path: Path, title: str = "") -> None:
    """Daily cost per policy and the three rates side by side (Agg: no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.4))
    FigureCanvasAgg(fig)
    labels = list(results)
    ax = fig.add_subplot(1, 3, 1)
    for label in labels:
        costs = results[label]["daily_cost"]
        ax.plot(range(len(costs)), costs, marker="o", ms=2, label=label)
    ax.set_xlabel("test day")
    ax.set_title("daily cost ($, lower is better)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = fig.add_subplot(1, 3, 2)
    ax.bar(labels, [results[lb]["mean_daily_cost"] for lb in labels], color="C0")
    ax.set_title("mean daily cost ($)", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax = fig.add_subplot(1, 3, 3)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, [results[lb]["violation_rate"] for lb in labels], 0.4, label="violation")
    ax.bar(x + 0.2, [results[lb]["convergence_rate"] for lb in labels], 0.4, label="converged")
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.05)
    ax.set_title("rates", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


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
    from powergrid.baselines import make_policies
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

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
    policy_sets = {LEARNT: learnt}
    policy_sets.update({kind: make_policies(env, kind, seed=seed) for kind in baselines})
    results = evaluate_policy_sets(env, policy_sets, days, seed=seed)
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
        plot_evaluation(results, out / "evaluation.png",
                        title=f"{report['setup']}: {days} test days, deterministic")
        (out / "evaluation.json").write_text(json.dumps(report, indent=2))
    return report


def format_table(report: dict[str, Any]) -> str:
    """Human-readable table of a report (what the CLI and the benchmark print)."""
    lines = [f"{'policy':<8} {'mean daily cost $':>18} {'violation rate':>15} "
             f"{'convergence':>12} {'vs learnt $/day':>16}"]
    comp = report["comparison"]
    for label, r in report["policies"].items():
        margin = "" if label not in comp else (
            f"{comp[label]['cost_saving']:+.1f} ({comp[label]['cost_saving_pct']:+.1f}%)")
        lines.append(f"{label:<8} {r['mean_daily_cost']:>18.1f} {r['violation_rate']:>15.3f} "
                     f"{r['convergence_rate']:>12.3f} {margin:>16}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m powergrid.evaluate_checkpoint CKPT [--days N] [--out DIR]``."""
    p = argparse.ArgumentParser(
        prog="python -m powergrid.evaluate_checkpoint",
        description="Evaluate a trained checkpoint on the test split against random and "
                    "rule-based policies (deterministic actions).")
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

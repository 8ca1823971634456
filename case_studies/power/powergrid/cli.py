"""`heron-power`: the command line for the power-grid case study.

Every subcommand is a thin layer over a library function, so anything the CLI does
can also be scripted in Python. Long work shows a progress bar; results go to a run
folder whose path is printed.
"""

from __future__ import annotations

import csv
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import click

from powergrid.agents.device_agent import ConfigError

BENCH_DIR = Path(__file__).resolve().parents[3] / "bench"


#: ``--no-pickle``: strict mode for every command that loads a setup's dataset.
no_pickle_option = click.option(
    "--no-pickle", is_flag=True,
    help="refuse a pickled dataset_path (.pkl): unpickling runs any code in the file; "
         "convert it once with powergrid.data.save_dataset(ds, 'data.npz')")


def _load_setup_or_exit(setup: str, *, no_pickle: bool, **kwargs: Any) -> dict[str, Any]:
    """``load_setup`` with ``--no-pickle``; a refused pickle exits 1 with the reason."""
    from powergrid.data.dataset import PickleRefusedError
    from powergrid.setups.loader import load_setup

    try:
        return load_setup(setup, allow_pickle=not no_pickle, **kwargs)
    except PickleRefusedError as exc:
        click.echo(f"{setup}: {exc}", err=True)
        sys.exit(1)


def _pickle_note(dataset_path: str) -> str:
    """Why a pickled dataset_path was not opened by ``validate`` and what a run would do."""
    return (f"note: dataset_path {dataset_path} is a pickle. validate did not open it (checking "
            "never executes data), so its contents are unchecked; simulate, train and evaluate "
            "will unpickle it, which runs any code it contains: the file is trusted code. "
            "Convert it once with save_dataset(load_dataset(path), 'data.npz') "
            "(powergrid.data), or pass --no-pickle to refuse pickles.")


def _run_dir(out: str | None, kind: str) -> Path:
    path = Path(out or f"runs/{kind}-{time.strftime('%Y%m%d-%H%M%S')}")
    path.mkdir(parents=True, exist_ok=True)
    return path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """HERON power-grid case study: simulate, train, evaluate and optimise networked microgrids."""


@main.command()
def setups() -> None:
    """List the shipped setups with their agents and devices."""
    from powergrid.setups.loader import get_available_setups, load_setup

    for name in get_available_setups():
        cfg = load_setup(name, validate=False, defer_pickle=True)  # listing never unpickles
        dso = cfg.get("dso_config") or {}
        feeder = dso.get("network", "none (stand-alone)")
        click.echo(f"{name}: DSO feeder {feeder}, {len(cfg['microgrid_configs'])} microgrid(s), "
                   f"{cfg.get('max_episode_steps', 24)} steps/episode")
        for mg in cfg["microgrid_configs"]:
            devices = ", ".join(f"{d['name']} ({d['type']})" for d in mg.get("devices", []))
            where = f" at {mg['connection_bus']}" if "connection_bus" in mg else ""
            click.echo(f"  {mg['name']}: {mg.get('network', 'ieee13')}{where}; {devices}")


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@no_pickle_option
def validate(config: str, no_pickle: bool) -> None:
    """Check a config.yml and report every problem at once.

    A .npz/.csv/.parquet dataset_path is loaded and checked; a pickled one is
    never opened (checking must not execute data): validate checks that it
    exists and says that a run would unpickle it.
    """
    from powergrid.data.dataset import is_pickle_path
    from powergrid.setups.loader import load_setup, validate_config

    try:
        cfg = load_setup(config, validate=False, allow_pickle=not no_pickle, defer_pickle=True)
    except (ConfigError, ValueError) as exc:
        click.echo(f"{config}: {exc}", err=True)
        sys.exit(1)
    dataset_path = cfg.get("dataset_path")
    if dataset_path and "dataset" not in cfg and is_pickle_path(dataset_path):
        click.echo(_pickle_note(dataset_path))
    problems = validate_config(cfg)
    if problems:
        click.echo(f"{config}: {len(problems)} problem(s)", err=True)
        for p in problems:
            click.echo(f"  - {p}", err=True)
        sys.exit(1)
    click.echo(f"{config}: OK ({len(cfg['microgrid_configs'])} microgrid(s))")


@main.command()
@click.option("--setup", default="ieee34_ieee13", show_default=True, help="setup name or config.yml")
@click.option("--policy", type=click.Choice(["rule", "follow-load", "random", "zero"]),
              default="rule", show_default=True, help="baseline policy to run")
@click.option("--checkpoint", default=None,
              help="heron.training checkpoint to run instead of --policy; loaded from its "
                   "pickle-free heron_actor files, or, if it has none, through RLlib, which "
                   "unpickles it (can run code: trusted checkpoints only)")
@click.option("--days", default=1, show_default=True, help="number of test days")
@click.option("--seed", default=0, show_default=True)
@click.option("--backend", type=click.Choice(["sweep", "lightsim2grid", "pandapower"]), default=None,
              help="power-flow backend (default: the setup's)")
@click.option("--out", default=None, help="run folder (default runs/simulate-<time>)")
@no_pickle_option
def simulate(setup: str, policy: str, checkpoint: str | None, days: int, seed: int,
             backend: str | None, out: str | None, no_pickle: bool) -> None:
    """Run a policy over test days; print a summary table and write plots."""
    from tqdm import tqdm

    from powergrid.baselines import make_policies
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
    from powergrid.plotting import plot_episode
    from powergrid.rollout import run_episode

    cfg = _load_setup_or_exit(setup, no_pickle=no_pickle)
    cfg.update({"train": False, "max_episode_steps": 24})
    if backend:
        cfg["power_flow"] = {"backend": backend}
    env = MultiAgentMicrogrids(cfg)
    if checkpoint:
        from heron.training.evaluate import load_policies

        policies, label = load_policies(checkpoint), "checkpoint"
    else:
        policies, label = make_policies(env, policy, seed=seed), policy
    run = _run_dir(out, "simulate")
    rows = []
    for day in tqdm(range(days), desc=f"simulating ({label})", unit="day"):
        rec = run_episode(env, policies, seed=seed, options={"day": day})
        s = rec.summary()
        rows.append({"day": day, **{k: round(v, 4) for k, v in s.items()}})
        plot_episode(rec, run / f"day{day}.png", title=f"{setup}, day {day}, {label}")
    with open(run / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    click.echo(f"{'day':>4} {'cost $':>10} {'violations':>11} {'converged':>10} {'steps/s':>8}")
    for r in rows:
        click.echo(f"{r['day']:>4} {r['total_cost']:>10.2f} {r['violation_rate']:>10.1%} "
                   f"{r['convergence_rate']:>10.0%} {r['steps_per_s']:>8.0f}")
    click.echo(f"results and plots in {run.resolve()}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@no_pickle_option
@click.pass_context
def train(ctx: click.Context, no_pickle: bool) -> None:
    """Train (all flags of examples/05_mappo_training.py, e.g. --test).

    Trains with TorchRL on the vectorized env unless --trainer rllib is given (the
    example script itself defaults to RLlib). TorchRL checkpoints are tensors and JSON
    only. With --trainer rllib every checkpoint gets the pickle-free policy files
    beside RLlib's; --resume CKPT then restores RLlib's files, which unpickles them (a
    checkpoint can run code when loaded): resume only checkpoints you trust.
    """
    from powergrid.training import DEFAULT_SETUP, parse_config, with_default_trainer
    from powergrid.training import main as train_main

    argv = with_default_trainer(ctx.args)
    if no_pickle:
        # Refuse before Ray starts; a setup that passes has no pickle for training to read.
        setup = parse_config(argv).setup or DEFAULT_SETUP
        _load_setup_or_exit(setup, no_pickle=True, validate=False)
    train_main(argv)


@main.command()
@click.argument("checkpoints", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--setup", default="ieee34_ieee13", show_default=True)
@click.option("--policies", default="oracle,rule,follow-load,random,zero", show_default=True,
              help="comma-separated baselines: oracle, mpc (mpc:seasonal, mpc:perfect), rule, "
                   "follow-load, random, zero (checkpoints are given as arguments); the "
                   "score needs zero and oracle")
@click.option("--days", default=3, show_default=True, help="number of test days")
@click.option("--out", default=None, help="report folder (default runs/evaluate-<time>)")
@no_pickle_option
def evaluate(checkpoints: tuple[str, ...], setup: str, policies: str, days: int,
             out: str | None, no_pickle: bool) -> None:
    """Compare policies (and heron.training CHECKPOINTS) over test days.

    Writes results.csv, results.md, results.json and plots: cost per day per policy
    with the rates, and one day's voltage envelope, dispatch and SOC side by side.
    Metrics as defined in powergrid.metrics (score: 0 = zero, 100 = oracle).

    CHECKPOINTS load from their pickle-free files (heron_actor.json and
    heron_actor.safetensors, which heron.training writes in every checkpoint):
    nothing in them can run code. A folder without them (RLlib's files only) is
    loaded through RLlib, which unpickles it and can run code; a warning says so.
    Evaluate such folders only if you trust them, or convert them once with
    heron.training.safe_policy.export_safe_policy. --no-pickle applies to the
    dataset, not to checkpoints.
    """
    from powergrid.evaluation import evaluate as run_evaluation
    from powergrid.metrics import summarize

    config = _load_setup_or_exit(setup, no_pickle=no_pickle)
    run = _run_dir(out, "evaluate")
    names = [p.strip() for p in policies.split(",") if p.strip()] + list(checkpoints)
    df = run_evaluation(config, names, days=days, out_dir=run)
    table = summarize(df).reset_index()
    click.echo(table.to_string(index=False))
    click.echo(f"report in {run.resolve()}")


@main.command()
@click.option("--setup", default="ieee34_ieee13", show_default=True)
@click.option("--algos", default="mappo-lag", show_default=True,
              help="comma-separated algorithms (mappo, ippo, mappo-cc; mappo-lag with "
                   "torchrl); empty: none")
@click.option("--trainer", type=click.Choice(["rllib", "torchrl"]), default="torchrl",
              show_default=True, help="which trainer trains the runs")
@click.option("--seeds", default=3, show_default=True, help="training seeds per algorithm")
@click.option("--minutes", default=5.0, show_default=True,
              help="wall-clock minutes of training per run")
@click.option("--days", default=None, type=int, help="test days (default: all)")
@click.option("--policies", default="oracle,rule,follow-load,random,zero", show_default=True,
              help="baselines to rank with the learnt policies (add mpc for MPC: slow)")
@click.option("--out", default=None, help="results folder (default runs/benchmark-<time>)")
@click.option("--publish", default=None,
              help="also copy the leaderboard here with its plots, e.g. docs/results.md")
@click.option("--parallel", default=1, show_default=True,
              help="torchrl runs trained at a time, one process each")
@no_pickle_option
def benchmark(setup: str, algos: str, trainer: str, seeds: int, minutes: float,
              days: int | None, policies: str, out: str | None, publish: str | None,
              parallel: int, no_pickle: bool) -> None:
    """Train ALGOS x SEEDS, evaluate them with the baselines, write the leaderboard.

    results.md / results.json (mean cost per day with 95 % intervals: bootstrap over
    days for baselines, Student-t over seeds for learnt policies), costs_per_day.png,
    violations.png and learning_curves.png.
    """
    from powergrid.benchmark import publish as publish_to
    from powergrid.benchmark import run_benchmark

    _load_setup_or_exit(setup, no_pickle=no_pickle, validate=False)
    run = _run_dir(out, "benchmark")
    names = [a.strip() for a in algos.split(",") if a.strip()]
    result = run_benchmark(setup, run, algos=names, seeds=seeds, minutes=minutes, days=days,
                           trainer=trainer, parallel=parallel,
                           baselines=[p.strip() for p in policies.split(",") if p.strip()],
                           command="heron-power benchmark " + " ".join(sys.argv[2:]),
                           log=click.echo)
    for r in result["leaderboard"]:
        cost = r["mean_cost_per_day"]
        click.echo(f"{r['policy']:<14} {r['kind']:<9} "
                   f"{'' if cost is None else f'{cost:10.1f}'} $/day")
    click.echo(f"leaderboard in {(run / 'results.md').resolve()}")
    if publish:
        click.echo(f"published to {publish_to(run, publish)}")


@main.command()
@click.option("--setup", default="ieee34_ieee13", show_default=True)
@click.option("--day", default=0, show_default=True, help="test day")
@click.option("--integer", is_flag=True,
              help="add ESS charge/discharge exclusivity binaries (needs pyscipopt)")
@click.option("--out", default=None, help="folder for the results")
@no_pickle_option
def optimize(setup: str, day: int, integer: bool, out: str | None, no_pickle: bool) -> None:
    """Solve the perfect-forecast optimal dispatch (the oracle) for one test day."""
    import pandas as pd

    from powergrid.optimization import solve_day

    res = solve_day(_load_setup_or_exit(setup, no_pickle=no_pickle), day, integer=integer)
    run = _run_dir(out, "optimize")
    summary = res.summary()
    summary["binding"] = res.violations
    (run / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    rows = {}
    for agent, devices in res.setpoints.items():
        for dev, series in devices.items():
            for key, values in series.items():
                if len(values) == res.horizon:
                    rows[f"{agent}.{dev}.{key}"] = values
    for agent, cost in res.cost_by_agent.items():
        rows[f"{agent}.cost"] = cost
    rows["price"] = res.price
    pd.DataFrame(rows).rename_axis("hour").to_csv(run / "dispatch.csv")
    for k, v in summary.items():
        click.echo(f"{k}: {v}")
    click.echo(f"results in {run.resolve()}")


@main.command()
@click.argument("which", type=click.Choice(["powerflow", "env", "oracle", "all"]), default="all")
def bench(which: str) -> None:
    """Run the benchmarks (each prints its figures and a same-run ratio)."""
    names = ["powerflow", "env", "oracle"] if which == "all" else [which]
    for name in names:
        script = BENCH_DIR / f"bench_{name}.py"
        if not script.exists():
            click.echo(f"{script} not found (benchmarks live in the source checkout).", err=True)
            sys.exit(1)
        click.echo(f"== bench_{name} ==")
        argv, sys.argv = sys.argv, [str(script)]
        try:
            runpy.run_path(str(script), run_name="__main__")
        finally:
            sys.argv = argv


if __name__ == "__main__":
    main()

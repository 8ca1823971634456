"""``heron-power benchmark``: train every algorithm for several seeds, evaluate them
with the baselines through the one pipeline, and write a leaderboard.

Why one command: a learnt policy means something only next to the yardsticks,
measured the same way, over several training seeds. This module trains
``algos x seeds`` runs (with either trainer, RLlib or TorchRL, through the domain's
training CLI; each for ``minutes`` of wall clock), evaluates their final checkpoints and the baselines on
the same test days with :func:`powergrid.evaluation.run_policies`, and writes into
``out_dir``:

* ``results.json`` / ``results.md``: the leaderboard. Baselines: mean cost per day
  with a 95 % bootstrap interval over days, gap to the oracle, score, violation and
  convergence rates. Learnt algorithms: each seed's mean cost per day, then mean ±
  95 % Student-t half-width over seeds (:func:`powergrid.metrics.seed_ci`);
* ``costs_per_day.png`` (every policy's cost per day, and its rates),
  ``violations.png`` (violation rate per policy) and ``learning_curves.png`` (training
  cost per episode against env steps, mean and 95 % band over seeds);
* ``results.csv`` (every policy and day) and ``runs/<algo>-seed<k>/`` (the runs).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from powergrid.evaluation import DEFAULT_POLICIES, checkpoint_spec, plot_summary, run_policies
from powergrid.metrics import seed_ci, summarize

TRAINERS = ("rllib", "torchrl")


def train_runs(setup: str, algos: Sequence[str], seeds: int, minutes: float, out: Path,
               trainer: str = "rllib", train_args: Sequence[str] = (),
               log: Callable[[str], None] = print, *, parallel: int = 1,
               existing: dict[tuple[str, int], Path] | None = None
               ) -> dict[tuple[str, int], Path]:
    """Train every (algo, seed) for ``minutes`` each; return the run folders.

    Each run goes through the domain's training CLI (:func:`powergrid.training.main`),
    so both trainers get the domain's defaults for them; ``train_args`` are more of
    its flags (they win over the benchmark's). RLlib runs share one Ray. TorchRL runs
    can train ``parallel`` at a time, each in its own process: a run is one
    single-threaded process, so on two cores two runs barely slow each other (their
    env steps/s in ``metrics.csv`` shows it). ``existing`` runs (already trained with
    the same protocol, e.g. by ``bench/bench_training.py``) are used as they are.
    """
    if trainer not in TRAINERS:
        raise ValueError(f"trainer {trainer!r}: choose from {TRAINERS}.")
    if parallel > 1 and trainer != "torchrl":
        raise ValueError("parallel runs need trainer='torchrl' (RLlib runs share one Ray; "
                         "give RLlib more env runners with --num-workers instead).")
    done = dict(existing or {})
    todo = [(a, s) for a in algos for s in range(seeds) if (a, s) not in done]
    if parallel > 1 and not {"--overlap", "--no-overlap"} & set(train_args):
        # runs side by side already fill the cores: a collector process each would only
        # make them wait for each other
        train_args = (*train_args, "--no-overlap")
    if parallel > 1 and todo:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        log(f"[benchmark] {len(todo)} run(s), {parallel} at a time")
        with ProcessPoolExecutor(max_workers=parallel, mp_context=mp.get_context("spawn"),
                                 initializer=_one_thread_per_run) as pool:
            futures = {key: pool.submit(_train_one, setup, key[0], key[1], minutes, out,
                                        trainer, tuple(train_args), print) for key in todo}
            done.update({key: fut.result() for key, fut in futures.items()})
        return {(a, s): done[(a, s)] for a in algos for s in range(seeds)}
    started = False
    if trainer == "rllib":
        from heron.training import TrainConfig
        from heron.training.rllib import ensure_ray

        started = ensure_ray(TrainConfig())
    try:
        for algo, seed in todo:
            done[(algo, seed)] = _train_one(setup, algo, seed, minutes, out, trainer,
                                            train_args, log)
        return {(a, s): done[(a, s)] for a in algos for s in range(seeds)}
    finally:
        if started:
            import ray

            ray.shutdown()


def _one_thread_per_run() -> None:
    """Runs side by side get one numba thread each: the vectorized power flow's
    parallel kernels wait for their slowest thread, so two runs that each ask for
    every core stall each other (measured: 0.8 s iterations became 6-9 s)."""
    import os
    import sys

    os.environ["NUMBA_NUM_THREADS"] = "1"      # read when numba is first imported
    if "numba" in sys.modules:                  # already imported with this module
        sys.modules["numba"].set_num_threads(1)


def _train_one(setup: str, algo: str, seed: int, minutes: float, out: Path, trainer: str,
               train_args: Sequence[str], log: Callable[[str], None]) -> Path:
    """One run, stopped after ``minutes`` of wall clock."""
    from powergrid.training import main as train_main

    run_dir = out / "runs" / f"{algo}-seed{seed}"
    log(f"[benchmark] training {algo} ({trainer}), seed {seed}, {minutes:g} min -> {run_dir}")
    result = train_main(["--setup", setup, "--trainer", trainer, "--algo", algo,
                         "--seed", str(seed), "--iterations", "1000000",
                         "--max-minutes", str(minutes), "--run-dir", str(run_dir),
                         "--no-tensorboard", "--quiet", *train_args])
    if getattr(result, "final_checkpoint", None) is None:
        raise RuntimeError(f"{algo} seed {seed}: training left no final checkpoint "
                           f"(see {run_dir}).")
    return Path(result.run_dir)


def read_curve(run_dir: Path) -> pd.DataFrame:
    """A run's ``metrics.csv`` (env_steps, cost_mean, violation_rate per iteration)."""
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return pd.DataFrame(rows).apply(pd.to_numeric, errors="coerce")


def curve_band(curves: list[pd.DataFrame], key: str = "cost_mean", points: int = 50
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(env steps, mean, 95 % half-width) of ``key`` over seeds on a common step grid.

    Each seed's curve is interpolated onto the steps every seed reached, so the band
    never extrapolates a run past its end.
    """
    curves = [c.dropna(subset=["env_steps", key]) for c in curves]
    curves = [c for c in curves if len(c)]
    if not curves:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    lo = max(float(c.env_steps.min()) for c in curves)
    hi = min(float(c.env_steps.max()) for c in curves)
    grid = np.linspace(lo, hi, points) if hi > lo else np.asarray([hi])
    values = np.stack([np.interp(grid, c.env_steps, c[key]) for c in curves])
    stats = [seed_ci(values[:, i]) for i in range(grid.size)]
    return grid, np.asarray([m for m, _ in stats]), np.asarray([h for _, h in stats])


def leaderboard(df: pd.DataFrame, learnt: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One entry per baseline and per algorithm (its seeds pooled by :func:`seed_ci`)."""
    table = summarize(df)
    seeded = {name for names in learnt.values() for name in names}
    rows = []
    for name, r in table.iterrows():
        if name in seeded:
            continue
        rows.append({"policy": name, "kind": "baseline", "seeds": 0,
                     "mean_cost_per_day": r.mean_cost_per_day,
                     "ci95": [r.cost_ci95_low, r.cost_ci95_high], "ci_over": "days",
                     "optimality_gap_pct": r.optimality_gap_pct, "score": r.score,
                     "violation_rate": r.violation_rate,
                     "convergence_rate": r.convergence_rate,
                     "storage_discharged_MWh": r.get("storage_discharged_MWh", np.nan),
                     "arbitrage_spread": r.get("arbitrage_spread", np.nan)})
    for algo, names in learnt.items():
        per_seed = table.loc[names]
        mean, half = seed_ci(per_seed.mean_cost_per_day.tolist())
        rows.append({"policy": algo, "kind": "learnt", "seeds": len(names),
                     "mean_cost_per_day": mean, "ci95": [mean - half, mean + half],
                     "ci_over": "seeds", "seed_costs": per_seed.mean_cost_per_day.tolist(),
                     "optimality_gap_pct": float(per_seed.optimality_gap_pct.mean()),
                     "score": float(per_seed.score.mean()),
                     "violation_rate": float(per_seed.violation_rate.mean()),
                     "seed_violation_rates": per_seed.violation_rate.tolist(),
                     "seed_gaps_pct": per_seed.optimality_gap_pct.tolist(),
                     "convergence_rate": float(per_seed.convergence_rate.mean()),
                     **{k: float(per_seed[k].mean()) for k in (
                         "storage_discharged_MWh", "arbitrage_spread") if k in per_seed},
                     **{f"seed_{k}": per_seed[k].tolist() for k in (
                         "storage_discharged_MWh", "arbitrage_spread") if k in per_seed}})
    rows.sort(key=lambda r: r["mean_cost_per_day"])
    return [{k: _plain(v) for k, v in r.items()} for r in rows]


def _plain(v: Any) -> Any:
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    return v


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def write_markdown(board: list[dict[str, Any]], path: Path, meta: dict[str, Any]) -> None:
    lines = [f"# Benchmark: {meta['setup']}", "",
             f"{meta['days']} {meta['split']} days; learnt: {', '.join(meta['algos']) or 'none'}"
             f" x {meta['seeds']} seed(s), {meta['minutes']:g} min of training each "
             f"({meta.get('trainer', 'rllib')}). Cost in $ "
             "per day (negative = net revenue; lower is better). 95 % interval: bootstrap over "
             "days for baselines, Student-t over seeds for learnt policies. Score: 0 = `zero`, "
             "100 = oracle. Storage: energy the batteries deliver per day and the "
             "discharge- minus charge-weighted price ($/MWh; > 0: they sell dearer than "
             "they buy). Definitions: `powergrid.metrics`. Generated by "
             "`heron-power benchmark`" + (f": `{meta['command']}`" if meta.get("command")
                                          else "") + ".", "",
             "| policy | kind | seeds | $/day | 95 % CI | gap % | score | violation rate "
             "| converged | storage MWh/day | spread $/MWh |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in board:
        ci = "" if None in r["ci95"] else f"[{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]"
        lines.append(f"| {r['policy']} | {r['kind']} | {r['seeds'] or ''} | "
                     f"{_fmt(r['mean_cost_per_day'], '.1f')} | {ci} | "
                     f"{_fmt(r['optimality_gap_pct'], '.1f')} | {_fmt(r['score'], '.1f')} | "
                     f"{_fmt(r['violation_rate'], '.4f')} | {_fmt(r['convergence_rate'], '.3f')} | "
                     f"{_fmt(r.get('storage_discharged_MWh'), '.2f')} | "
                     f"{_fmt(r.get('arbitrage_spread'), '.1f')} |")
    lines += ["", "![cost per day](costs_per_day.png)", "![violations](violations.png)"]
    if meta["algos"]:
        lines.append("![learning curves](learning_curves.png)")
    path.write_text("\n".join(lines) + "\n")


def plot_violations(board: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [r["policy"] for r in board]
    ax.bar(names, [r["violation_rate"] or 0.0 for r in board], color="C3")
    ax.set(ylabel="violation rate", title="Voltage or line violations (converged agent-steps)")
    ax.tick_params(axis="x", rotation=30)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_learning_curves(curves: dict[str, list[pd.DataFrame]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for algo, cs in curves.items():
        x, mean, half = curve_band(cs)
        if not x.size:
            continue
        ax.plot(x, mean, label=f"{algo} ({len(cs)} seeds)")
        band = np.where(np.isfinite(half), half, 0.0)
        ax.fill_between(x, mean - band, mean + band, alpha=0.25)
    ax.set(xlabel="env steps", ylabel="training cost per episode ($)",
           title="Learning curves (mean, 95 % band over seeds)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_benchmark(setup: str, out_dir: str | Path, *, algos: Sequence[str] = ("mappo",),
                  seeds: int = 3, minutes: float = 5.0, days: int | Sequence[int] | None = None,
                  baselines: Sequence[str] = DEFAULT_POLICIES, trainer: str = "rllib",
                  train_args: Sequence[str] = (), parallel: int = 1,
                  existing_runs: dict[tuple[str, int], Path] | None = None,
                  command: str | None = None,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, evaluate and write the leaderboard (module docstring); returns results.json."""
    from powergrid.optimization import make_env
    from powergrid.setups.loader import load_setup

    if seeds < 1 or minutes <= 0:
        raise ValueError(f"seeds must be >= 1 and minutes > 0, got {seeds} and {minutes}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(load_setup(setup), "test", 24)
    n_days = len(env.dataset["test"]["load"]) // 24
    day_list = list(range(n_days)) if days is None else (
        list(range(days)) if isinstance(days, int) else [int(d) for d in days])
    runs = (train_runs(setup, algos, seeds, minutes, out, trainer, train_args, log,
                       parallel=parallel, existing=existing_runs) if algos else {})
    learnt = {a: [f"{a}/seed{s}" for s in range(seeds)] for a in algos}
    specs: list[Any] = list(baselines) + [
        # either trainer's checkpoint: the loader recognises TorchRL's heron_torchrl.json
        checkpoint_spec(run / "checkpoints" / "final", name=f"{a}/seed{s}")
        for (a, s), run in runs.items()]
    log(f"[benchmark] evaluating {len(specs)} policies on {len(day_list)} test days")
    df, _ = run_policies(env, specs, day_list)
    failed = df[df.error.astype(str) != ""]
    if len(failed):
        raise RuntimeError("benchmark evaluation failed: " + "; ".join(
            f"{r.policy} day {r.day}: {r.error}" for r in failed.itertuples()))
    board = leaderboard(df, learnt)
    meta = {"setup": setup, "split": "test", "days": len(day_list), "algos": list(algos),
            "seeds": seeds, "minutes": minutes, "trainer": trainer, "command": command}
    df.to_csv(out / "results.csv", index=False)
    result = {**meta, "leaderboard": board,
              "runs": {f"{a}/seed{s}": str(p) for (a, s), p in runs.items()}}
    (out / "results.json").write_text(json.dumps(result, indent=2))
    write_markdown(board, out / "results.md", meta)
    plot_summary(df, out / "costs_per_day.png", title=f"{setup}: {len(day_list)} test days")
    plot_violations(board, out / "violations.png")
    if runs:
        plot_learning_curves({a: [read_curve(runs[(a, s)]) for s in range(seeds)]
                              for a in algos}, out / "learning_curves.png")
    return result


PLOTS = ("costs_per_day.png", "violations.png", "learning_curves.png")


def publish(out_dir: str | Path, markdown: str | Path) -> Path:
    """Copy the leaderboard to ``markdown`` (e.g. ``docs/results.md``) with its plots in
    ``<markdown stem>/`` beside it, links rewritten: the page the docs link to."""
    import shutil

    out, md = Path(out_dir), Path(markdown)
    assets = md.parent / md.stem
    assets.mkdir(parents=True, exist_ok=True)
    text = (out / "results.md").read_text()
    for name in PLOTS:
        if (out / name).exists():
            shutil.copyfile(out / name, assets / name)
            text = text.replace(f"]({name})", f"]({md.stem}/{name})")
    md.write_text(text)
    return md

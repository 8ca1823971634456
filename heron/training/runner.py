"""The training loop: RLlib PPO iterations -> a self-contained run folder.

A run folder (default ``<checkpoint_dir>/<algo>-<timestamp>/``) holds everything
needed to inspect or continue a run without the console log:

* ``config.json``: the :class:`TrainConfig` and the env_config actually used;
* ``metrics.csv``: one row per iteration (written as it goes, so a crashed run
  still has its history);
* ``checkpoints/iter_XXXX`` and ``checkpoints/final``: ``algo.save_to_path``
  output (pickles: what ``--resume`` restores) plus ``heron_policy.json`` and the
  pickle-free actor (``heron_actor.json`` + ``.safetensors``, see
  :mod:`heron.training.safe_policy`) that :mod:`heron.training.evaluate` loads;
* ``learning_curve.png``: return, cost and violation rate against env steps;
* ``tensorboard/``: scalars (when tensorboardX is installed; it comes with ray);
* ``wandb/``: the W&B run with ``--wandb`` (offline without a login, see
  :mod:`heron.training.wandb_logger`).

Imports ray lazily, inside :func:`train`.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heron.training.config import TrainConfig
from heron.training.wandb_logger import (  # WandbMissingError: re-exported for callers
    WandbLogger,
    WandbMissingError,  # noqa: F401
    require_wandb,
)

METRIC_FIELDS = [
    "iteration",
    "env_steps",
    "episode_return_mean",
    "episode_len_mean",
    "cost_mean",
    "safety_mean",
    "violation_rate",
    "policy_loss",
    "vf_loss",
    "entropy",
    "iter_time_s",
    "total_time_s",
]


@dataclass
class RunResult:
    """What a finished (or interrupted) run produced."""

    run_dir: Path
    config: TrainConfig
    final_checkpoint: Path | None = None
    checkpoints: list[Path] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def returns(self) -> list[float]:
        return [row["episode_return_mean"] for row in self.history]


def _get(d: dict[str, Any], *path: str, default: float = math.nan) -> float:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    try:
        return float(d)
    except (TypeError, ValueError):
        return default


def _mean_over_modules(learners: dict[str, Any], key: str) -> float:
    vals = [
        float(v[key]) for mid, v in (learners or {}).items()
        if mid != "__all_modules__" and isinstance(v, dict) and key in v
    ]
    return sum(vals) / len(vals) if vals else math.nan


def extract_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The handful of numbers a human watches, from RLlib's deeply nested result."""
    from heron.training.callbacks import COST_KEY, SAFETY_KEY, VIOLATION_KEY

    env = result.get("env_runners", {})
    learners = result.get("learners", {})
    steps = _get(result, "num_env_steps_sampled_lifetime")
    if math.isnan(steps):
        steps = _get(env, "num_env_steps_sampled_lifetime")
    return {
        "iteration": int(result.get("training_iteration", 0)),
        "env_steps": steps,
        "episode_return_mean": _get(env, "episode_return_mean"),
        "episode_len_mean": _get(env, "episode_len_mean"),
        "cost_mean": _get(env, COST_KEY),
        "safety_mean": _get(env, SAFETY_KEY),
        "violation_rate": _get(env, VIOLATION_KEY),
        "policy_loss": _mean_over_modules(learners, "policy_loss"),
        "vf_loss": _mean_over_modules(learners, "vf_loss"),
        "entropy": _mean_over_modules(learners, "entropy"),
        "iter_time_s": _get(result, "time_this_iter_s"),
        "total_time_s": _get(result, "time_total_s"),
    }


def format_line(row: dict[str, float]) -> str:
    return (
        f"iter {row['iteration']:4d} | env steps {int(row['env_steps']) if not math.isnan(row['env_steps']) else 0:8d}"
        f" | return {row['episode_return_mean']:10.3f} | cost {row['cost_mean']:9.3f}"
        f" | violation rate {row['violation_rate']:5.3f} | {row['iter_time_s']:6.1f}s"
    )


def make_run_dir(cfg: TrainConfig) -> Path:
    if cfg.run_dir:
        run_dir = Path(cfg.run_dir)
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = Path(cfg.checkpoint_dir) / f"{cfg.algo}-{stamp}"
        n = 1
        while run_dir.exists():
            run_dir = Path(cfg.checkpoint_dir) / f"{cfg.algo}-{stamp}-{n}"
            n += 1
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir.resolve()


def _jsonable(obj: Any) -> Any:
    """env_configs may hold numpy arrays or frames (whole datasets): keep config.json
    writable and small by summarising anything big."""
    shape = getattr(obj, "shape", None)
    if shape is not None and getattr(obj, "size", 0) > 64:
        return f"<{type(obj).__name__} shape={tuple(shape)}>"
    try:
        text = json.dumps(obj)
        if len(text) <= 10_000:
            return obj
    except TypeError:
        pass
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if len(obj) > 256:
            return f"<{type(obj).__name__} of {len(obj)} items>"
        return [_jsonable(v) for v in obj]
    if isinstance(obj, str):
        return obj[:10_000]
    if hasattr(obj, "tolist"):
        try:
            return obj.tolist()
        except Exception:
            pass
    return repr(obj)


def plot_learning_curve(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Return, cost and violation rate vs env steps (Agg canvas: no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2))
    FigureCanvasAgg(fig)
    x = [row["env_steps"] for row in history]
    panels = [
        ("episode_return_mean", "episode return (mean)"),
        ("cost_mean", "episode cost (mean)"),
        ("violation_rate", "violation rate"),
    ]
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.plot(x, [row[key] for row in history], marker="o", ms=3)
        ax.set_xlabel("env steps")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _check_resume_compatible(resume: Path, cfg: TrainConfig) -> None:
    from heron.training.rllib import METADATA_FILE

    if not resume.exists():
        raise FileNotFoundError(f"--resume checkpoint {str(resume)!r} does not exist.")
    meta_file = resume / METADATA_FILE
    if meta_file.exists():
        algo = json.loads(meta_file.read_text()).get("algo")
        if algo and algo != cfg.algo:
            raise ValueError(
                f"Checkpoint {str(resume)!r} was trained with algo={algo!r}; "
                f"resume it with --algo {algo} (got {cfg.algo!r})."
            )


def train(
    cfg: TrainConfig,
    env_creator: Callable[[dict[str, Any]], Any],
    env_config: dict[str, Any] | None = None,
    *,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Run ``cfg.iterations`` PPO iterations (more, on top of a resumed checkpoint),
    or fewer when ``cfg.max_time_s`` runs out first.

    Starts Ray (or connects to ``cfg.ray_address``) if it is not running and shuts
    it down again only if this call started it.
    """
    wandb = require_wandb() if cfg.wandb else None
    resume = Path(cfg.resume).resolve() if cfg.resume else None
    if resume is not None:
        _check_resume_compatible(resume, cfg)

    import ray

    from heron.training.rllib import build_algorithm, ensure_ray, merged_env_config, save_checkpoint

    run_dir = make_run_dir(cfg)
    used_env_config = merged_env_config(env_config, cfg)
    (run_dir / "config.json").write_text(json.dumps(
        {"train": cfg.to_dict(), "env_config": _jsonable(used_env_config)}, indent=2))
    result = RunResult(run_dir=run_dir, config=cfg)
    if cfg.verbose:
        log(f"[heron] run folder: {run_dir}")

    started_ray = ensure_ray(cfg)
    algo = None
    tb = None
    wandb_run: WandbLogger | None = None
    completed = False
    csv_file = open(run_dir / "metrics.csv", "w", newline="")  # closed in finally
    try:
        writer = csv.DictWriter(csv_file, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        algo = build_algorithm(env_creator, env_config, cfg)
        if resume is not None:
            algo.restore_from_path(str(resume))
            if cfg.verbose:
                log(f"[heron] resumed from {resume} at iteration {algo.iteration}")
        if cfg.tensorboard:
            try:
                from tensorboardX import SummaryWriter

                tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                log("[heron] tensorboardX not installed: skipping TensorBoard logs.")
        if wandb is not None:
            wandb_run = WandbLogger.start(wandb, project=cfg.wandb_project, name=run_dir.name,
                                          run_dir=run_dir, config=cfg.to_dict(), log=log)

        last_steps = -1.0
        t_start = time.perf_counter()
        for _ in range(cfg.iterations):
            row = extract_metrics(algo.train())
            result.history.append(row)
            writer.writerow(row)
            csv_file.flush()
            if cfg.verbose:
                log(format_line(row))
            if row["env_steps"] == last_steps:
                log(f"[heron] warning: no new samples in iteration {row['iteration']}; the env "
                    f"may be slower than sample_timeout_s={cfg.sample_timeout_s}.")
            last_steps = row["env_steps"]
            numeric = {k: v for k, v in row.items() if not math.isnan(float(v))}
            if tb is not None:
                for k, v in numeric.items():
                    if k != "iteration":
                        tb.add_scalar(f"heron/{k}", v, row["iteration"])
            if wandb_run is not None:
                wandb_run.log_row(row)
            if cfg.checkpoint_every and row["iteration"] % cfg.checkpoint_every == 0:
                result.checkpoints.append(save_checkpoint(
                    algo, run_dir / "checkpoints" / f"iter_{row['iteration']:04d}"))
            if cfg.max_time_s is not None and time.perf_counter() - t_start >= cfg.max_time_s:
                if cfg.verbose:
                    log(f"[heron] time budget of {cfg.max_time_s:.0f}s reached after "
                        f"iteration {row['iteration']}.")
                break
        completed = True
    except KeyboardInterrupt:
        result.interrupted = True
        log("[heron] interrupted: saving a final checkpoint.")
    finally:
        csv_file.close()
        if algo is not None:
            # Not after an error: saving could fail too and hide the real exception.
            if result.history and (completed or result.interrupted):
                name = "interrupted" if result.interrupted else "final"
                result.final_checkpoint = save_checkpoint(algo, run_dir / "checkpoints" / name)
                result.checkpoints.append(result.final_checkpoint)
            algo.stop()
        if result.history:
            plot_learning_curve(result.history, run_dir / "learning_curve.png",
                                title=f"{cfg.algo} ({run_dir.name})")
        if tb is not None:
            tb.close()
        if wandb_run is not None:
            wandb_run.finish()
        if started_ray:
            ray.shutdown()
    if cfg.verbose and result.final_checkpoint is not None:
        log(f"[heron] final checkpoint: {result.final_checkpoint}")
        log(f"[heron] run folder: {run_dir}")
    return result

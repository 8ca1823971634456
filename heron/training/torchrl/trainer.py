"""PPO on a vectorized HERON env with TorchRL: MAPPO-CC, MAPPO, IPPO and MAPPO-Lag.

One iteration: TorchRL's ``Collector`` gathers ``T = ceil(train_batch_size / N)``
steps of all ``N`` copies (``N = num_envs_per_worker``), TorchRL's GAE computes
advantages, and ``ClipPPOLoss`` runs ``num_epochs`` passes of shuffled minibatches
(``minibatch_size`` env steps each, every agent of a step in the same minibatch).
The env's autoreset steps (see :mod:`.env`) are dropped before the loss.
``mappo-lag`` is ``mappo-cc`` whose rewards are penalised by a learnt Lagrange
multiplier on violating agent-steps (:func:`lagrangian_step`).

The run folder is the RLlib path's (:mod:`heron.training.runner`): ``config.json``,
``metrics.csv`` (same columns), ``learning_curve.png``, ``tensorboard/`` and
``checkpoints/{iter_XXXX,final}``. A checkpoint is ``model.pt`` (state dicts:
tensors only, loaded with ``torch.load(weights_only=True)``, so a tampered file
cannot run code) and ``heron_torchrl.json`` (algo, spaces, observation
normaliser, step counts).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from heron.training.config import TrainConfig
from heron.training.evaluate import TORCHRL_METADATA_FILE
from heron.training.runner import (
    METRIC_FIELDS,
    RunResult,
    _jsonable,
    format_line,
    make_run_dir,
    plot_learning_curve,
)
from heron.training.torchrl.env import HeronVectorEnv
from heron.training.torchrl.models import (
    ACTION_KEY,
    LOG_PROB_KEY,
    VALUE_KEY,
    make_actor,
    make_critic,
)
from heron.training.torchrl.vector import vector_observation_stats

VectorEnvCreator = Callable[[dict[str, Any], int], Any]
METADATA_FILE = TORCHRL_METADATA_FILE  # one name, shared with heron.training.evaluate
WEIGHTS_FILE = "model.pt"
#: The actor's weights alone, as safetensors: all that evaluation and bundles need,
#: in a format with no pickle at all (``model.pt`` is for resuming).
ACTOR_WEIGHTS_FILE = "actor.safetensors"
FORMAT = "heron-torchrl-v1"
#: The critic's layout (``models.make_critic``), recorded so that ``--resume`` from a
#: checkpoint of an older layout says so instead of failing inside load_state_dict.
#: Evaluation reads the actor only, so such checkpoints still evaluate.
CRITIC_LAYOUT = "state-heads"
#: Vector steps of random actions measured for the observation normaliser.
OBS_STATS_STEPS = 48
MAX_GRAD_NORM = 1.0
#: ``mappo-lag`` defaults (override with ``TrainConfig.extra``): the violation rate
#: (fraction of agent-steps with safety > 0) the policy should stay under, and the
#: dual-ascent step of the multiplier per iteration, in scaled reward per violating
#: agent-step per unit of excess violation rate.
LAGRANGE_FIELDS = ["lagrange_multiplier", "batch_violation_rate"]
VIOLATION_TARGET = 0.005
LAGRANGE_LR = 1.0


@dataclass
class Learner:
    """Everything one training run updates (and a checkpoint restores)."""

    env: HeronVectorEnv
    actor: Any
    critic: Any
    loss: Any
    optim: torch.optim.Optimizer
    obs_stats: dict[str, Any] | None
    iteration: int = 0
    env_steps: int = 0
    #: ``mappo-lag``'s Lagrange multiplier (0 for the other algorithms).
    lagrange_multiplier: float = 0.0


def build_learner(cfg: TrainConfig, venv: Any, obs_stats: dict[str, Any] | None) -> Learner:
    """Adapter, actor, critic, ClipPPOLoss with GAE, Adam: all TorchRL parts."""
    from torchrl.objectives import ClipPPOLoss, ValueEstimators

    env = HeronVectorEnv(venv, obs_stats=obs_stats, reward_scale=cfg.reward_scale,
                         agent_id=cfg.shared_policy, seed=cfg.seed)
    actor = make_actor(cfg, env.obs_dim, env.act_dim, env.n_agents)
    critic = make_critic(cfg, env.obs_dim, env.state_dim, env.n_agents)
    loss = ClipPPOLoss(actor_network=actor, critic_network=critic,
                       clip_epsilon=cfg.clip_param, entropy_bonus=cfg.entropy_coeff > 0,
                       entropy_coeff=cfg.entropy_coeff or None,
                       normalize_advantage=bool(cfg.extra.get("normalize_advantage", False)),
                       # per agent: agents' rewards differ in scale (one sells MWs, one
                       # only shifts a battery); one pooled mean/std would drown the small
                       normalize_advantage_exclude_dims=(-2,))
    loss.set_keys(reward=("agents", "reward"), action=ACTION_KEY, value=VALUE_KEY,
                  sample_log_prob=LOG_PROB_KEY, done=("agents", "done"),
                  terminated=("agents", "terminated"))
    loss.make_value_estimator(ValueEstimators.GAE, gamma=cfg.gamma, lmbda=cfg.lambda_)
    optim = torch.optim.Adam(loss.parameters(), lr=cfg.lr)
    return Learner(env, actor, critic, loss, optim, obs_stats)


def num_collectors(cfg: TrainConfig) -> int:
    """Collector processes: ``--num-workers`` (0 and 1 both mean: collect in this one)."""
    return max(1, int(cfg.num_workers))


def frames_per_batch(cfg: TrainConfig) -> int:
    """Env steps per iteration: whole steps of all ``W x N`` copies, at least
    ``train_batch_size``."""
    n = int(cfg.num_envs_per_worker) * num_collectors(cfg)
    return n * max(1, math.ceil(cfg.train_batch_size / n))


def worker_env(vector_env_creator: VectorEnvCreator, env_config: dict[str, Any], n: int,
               obs_stats: dict[str, Any] | None, reward_scale: float, agent_id: bool,
               seed: int) -> HeronVectorEnv:
    """One collector process's adapter (module level, so the spawned process can
    rebuild it from the creator's import path and plain data)."""
    return HeronVectorEnv(vector_env_creator(env_config, n), obs_stats=obs_stats,
                          reward_scale=reward_scale, agent_id=agent_id, seed=seed)


# ---------------------------------------------------------------------- checkpoints
def metadata(learner: Learner, cfg: TrainConfig) -> dict[str, Any]:
    env = learner.env
    return {
        "format": FORMAT, "trainer": "torchrl", "algo": cfg.algo,
        "agents": env.agent_names, "obs_dim": env.raw_obs_dim, "act_dim": env.act_dim,
        "state_dim": env.state_dim, "agent_id_onehot": env.agent_id,
        "critic_layout": CRITIC_LAYOUT,
        "act_low": env._act_low.tolist(), "act_high": env._act_high.tolist(),
        "obs_norm": learner.obs_stats, "reward_scale": cfg.reward_scale,
        "iteration": learner.iteration, "env_steps": learner.env_steps,
        "lagrange_multiplier": learner.lagrange_multiplier, "train_config": cfg.to_dict(),
    }


def save_checkpoint(learner: Learner, cfg: TrainConfig, path: str | Path) -> Path:
    """``model.pt`` (state dicts only) and ``heron_torchrl.json``; returns the folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.save({"actor": learner.actor.state_dict(), "critic": learner.critic.state_dict(),
                "optimizer": learner.optim.state_dict()}, path / WEIGHTS_FILE)
    save_actor_weights(learner.actor.state_dict(), path / ACTOR_WEIGHTS_FILE)
    (path / METADATA_FILE).write_text(json.dumps(metadata(learner, cfg), indent=2))
    return path


def save_actor_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """safetensors wants each tensor in its own contiguous storage."""
    from safetensors.torch import save_file

    save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, str(path))


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state_dicts, metadata)``. ``weights_only=True``: a pickle that would build
    arbitrary objects (and so could run code) is refused with an UnpicklingError."""
    path = Path(path)
    meta = read_metadata(path)
    state = torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    return state, meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """``heron_torchrl.json`` of a checkpoint (or bundle) folder, format checked."""
    meta_file = Path(path) / METADATA_FILE
    if not meta_file.exists():
        raise FileNotFoundError(f"{meta_file} not found: {str(path)!r} is not a TorchRL "
                                "checkpoint written by heron.training.torchrl.")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_file}: unknown format {meta.get('format')!r}.")
    return meta


def _restore(learner: Learner, state: dict[str, Any], meta: dict[str, Any]) -> None:
    learner.actor.load_state_dict(state["actor"])
    learner.critic.load_state_dict(state["critic"])
    learner.optim.load_state_dict(state["optimizer"])
    learner.iteration, learner.env_steps = int(meta["iteration"]), int(meta["env_steps"])
    learner.lagrange_multiplier = float(meta.get("lagrange_multiplier", 0.0))


# ---------------------------------------------------------------------- one iteration
class EpisodeTracker:
    """Per-copy running sums -> return, cost and violation rate of finished episodes
    (the same definitions as :class:`heron.training.callbacks.SafetyMetricsCallback`:
    sums over agents and steps; violation rate = agent-steps with safety > 0), averaged
    over the last ``max(100, N)`` episodes like RLlib's smoothing window: copies that
    start together also end together, so one iteration may finish few episodes."""

    def __init__(self, n: int, reward_scale: float) -> None:
        self.scale = float(reward_scale)
        self.window: deque[tuple[float, ...]] = deque(maxlen=max(100, int(n)))
        self.ret, self.cost = np.zeros(n), np.zeros(n)
        self.viol, self.count, self.length = np.zeros(n), np.zeros(n), np.zeros(n)
        self.safety = np.zeros(n)
        self.last: dict[str, float] = {}

    def add(self, batch: Any) -> dict[str, float]:
        nxt = batch.get("next")
        real = ~nxt.get("autoreset").numpy()                        # [N, T]
        reward = nxt.get(("agents", "reward")).squeeze(-1).numpy().sum(-1) / self.scale
        cost = nxt.get(("agents", "cost")).numpy()
        safety = nxt.get(("agents", "safety")).numpy()
        done = nxt.get("done").squeeze(-1).numpy() & real
        finished: list[tuple[float, ...]] = []
        for t in range(real.shape[1]):
            r = real[:, t]
            self.ret += np.where(r, reward[:, t], 0.0)
            self.cost += np.where(r, cost[:, t].sum(-1), 0.0)
            self.safety += np.where(r, safety[:, t].sum(-1), 0.0)
            self.viol += np.where(r, (safety[:, t] > 0).sum(-1), 0)
            self.count += np.where(r, safety.shape[-1], 0)
            self.length += r
            for i in np.flatnonzero(done[:, t]):
                finished.append((self.ret[i], self.cost[i],
                                 self.viol[i] / max(self.count[i], 1.0), self.length[i],
                                 self.safety[i]))
                for acc in (self.ret, self.cost, self.viol, self.count, self.length, self.safety):
                    acc[i] = 0.0
        self.window.extend(finished)
        if self.window:
            arr = np.asarray(self.window)
            self.last = {"episode_return_mean": float(arr[:, 0].mean()),
                         "cost_mean": float(arr[:, 1].mean()),
                         "violation_rate": float(arr[:, 2].mean()),
                         "episode_len_mean": float(arr[:, 3].mean()),
                         "safety_mean": float(arr[:, 4].mean())}
        return dict(self.last) or {k: math.nan for k in (
            "episode_return_mean", "cost_mean", "violation_rate", "episode_len_mean",
            "safety_mean")}


def lagrangian_step(learner: Learner, batch: Any, cfg: TrainConfig) -> float:
    """``mappo-lag``: penalise violating agent-steps by the multiplier, then move it.

    Reward-penalty form of the Lagrangian relaxation ``max_pi J_r - lambda (J_c - d)``
    with ``c = 1[safety > 0]`` per agent-step: PPO sees ``r - lambda * c``, and
    ``lambda <- max(0, lambda + lr * (violation rate of the batch - d))`` (dual
    ascent), so the multiplier grows while the policy violates more than the target
    ``d`` and decays back once it complies. Returns the batch's violation rate.
    """
    nxt = batch.get("next")
    real = ~nxt.get("autoreset")
    violating = (nxt.get(("agents", "safety")) > 0) & real.unsqueeze(-1)   # [N, T, A]
    reward = nxt.get(("agents", "reward"))
    nxt.set(("agents", "reward"),
            reward - learner.lagrange_multiplier * violating.unsqueeze(-1).to(reward.dtype))
    rate = float(violating.sum()) / max(1.0, float(real.sum()) * violating.shape[-1])
    target = float(cfg.extra.get("violation_target", VIOLATION_TARGET))
    lr = float(cfg.extra.get("lagrange_lr", LAGRANGE_LR))
    learner.lagrange_multiplier = max(0.0, learner.lagrange_multiplier + lr * (rate - target))
    return rate


def potential_shaping(batch: Any, gamma: float, reward_scale: float) -> None:
    """``extra={"potential_shaping": True}``: add ``gamma * phi(s') - phi(s)`` to each
    agent's reward, ``phi`` being the env's ``infos[agent]["potential"]`` (in reward
    units before scaling), and ``phi(s') = 0`` where the episode ended.

    Why: potential-based shaping (Ng, Harada and Russell, 1999) changes no optimal
    policy, since the shaped return of an episode differs from the real one by
    ``-phi(s_0)`` only, yet it can move a delayed reward forward. In the power case
    study ``phi`` is the value of stored energy, so charging is credited when it
    happens instead of hours later when the battery sells. The episode-end potential
    is 0 because the env values nothing left over when an episode ends. Autoreset
    steps (dropped before the loss) get no shaping. The logged returns and costs are
    the env's (the tracker reads the batch before this runs).
    """
    nxt = batch.get("next")
    phi = batch.get(("agents", "potential"))                         # [N, T, A]
    phi_next = nxt.get(("agents", "potential"))
    ended = nxt.get(("agents", "done")).squeeze(-1)
    real = (~nxt.get("autoreset")).unsqueeze(-1)
    shaped = torch.where(real, gamma * torch.where(ended, 0.0, phi_next) - phi, 0.0)
    reward = nxt.get(("agents", "reward"))
    nxt.set(("agents", "reward"), reward + reward_scale * shaped.unsqueeze(-1).to(reward.dtype))


def end_episodes_as_terminal(batch: Any) -> None:
    """``extra={"terminal_episode_end": True}``: GAE bootstraps from no state after an
    episode's last step, as if the time limit were a terminal state.

    Why: an env whose episodes are a fixed window that values nothing left over at the
    end (the power case study's day: energy left in a battery earns nothing) is a
    finite-horizon task, but Gymnasium's convention reports the end as a truncation,
    and GAE then adds the value of the next window's first state: a critic trained so
    credits the state at the end (its stored energy) with value it never yields. With
    this option the return of a step is what the rest of its episode pays, the
    quantity the evaluation scores, and ``gamma`` 1.0 makes them equal.
    """
    nxt = batch.get("next")
    nxt.set(("agents", "terminated"), nxt.get(("agents", "done")).clone())


def ppo_update(learner: Learner, batch: Any, cfg: TrainConfig) -> dict[str, float]:
    """GAE on the [N, T] batch, then ``num_epochs`` of shuffled ClipPPOLoss minibatches."""
    loss = learner.loss
    with torch.no_grad():
        loss.value_estimator(batch, params=loss.critic_network_params,
                             target_params=loss.target_critic_network_params)
    data = batch.reshape(-1)
    data = data[~data.get(("next", "autoreset"))].select(*_loss_keys(loss))
    n, mb = data.shape[0], max(1, int(cfg.minibatch_size))
    sums = {"policy_loss": 0.0, "vf_loss": 0.0, "entropy": 0.0}
    updates = 0
    for _ in range(cfg.num_epochs):
        # one gather per epoch, then contiguous slices (views): indexing a TensorDict
        # costs per key, and per minibatch it dominated the update on two cores
        shuffled = data[torch.randperm(n)]
        for start in range(0, n, mb):
            sub = shuffled[start:start + mb]
            out = loss(sub)
            total = out["loss_objective"] + out["loss_critic"]
            if "loss_entropy" in out.keys():
                total = total + out["loss_entropy"]
            learner.optim.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(loss.parameters(), MAX_GRAD_NORM)
            learner.optim.step()
            sums["policy_loss"] += float(out["loss_objective"].detach())
            sums["vf_loss"] += float(out["loss_critic"].detach())
            sums["entropy"] += float(out["entropy"].detach()) if "entropy" in out.keys() \
                else math.nan
            updates += 1
    return {k: v / max(updates, 1) for k, v in sums.items()}


def _loss_keys(loss: Any) -> list[Any]:
    """What ClipPPOLoss reads once advantages exist: the "next" entries only fed GAE."""
    keys = [k for k in loss.in_keys if not (isinstance(k, tuple) and k[0] == "next")]
    return [*keys, loss.tensor_keys.advantage, loss.tensor_keys.value_target]


def make_collector(learner: Learner, cfg: TrainConfig,
                   vector_env_creator: VectorEnvCreator | None = None,
                   env_config: dict[str, Any] | None = None) -> Any:
    """The collector that feeds PPO.

    * default: TorchRL's ``Collector`` on the learner's env, in this process;
    * ``--num-workers W > 1``: a ``MultiSyncCollector`` over W processes, each stepping
      its own N copies (seeds ``seed + w N + i``, so no two copies share one), whose
      batches are concatenated along the copy axis: ``[W N, T]``. The actor's weights
      go to the workers after every update (``update_policy_weights_``);
    * ``--overlap``: an :class:`~heron.training.torchrl.overlap.OverlappedCollector`,
      one process stepping the N copies (seeded as the in-process env would be) with
      TorchRL's ``Collector`` while this process updates. Batch k+1 always comes from
      a copy of the weights after update k-1: repeatable, one update behind.
    """
    from torchrl.collectors import Collector, MultiSyncCollector

    w = num_collectors(cfg)
    if w == 1 and not cfg.overlap:
        return Collector(learner.env, learner.actor, frames_per_batch=frames_per_batch(cfg),
                         total_frames=-1, auto_register_policy_transforms=False)
    if vector_env_creator is None:
        raise ValueError("num_workers > 1 and overlap need the vector env creator to build "
                         "each collector process's env.")
    from functools import partial

    n = int(cfg.num_envs_per_worker)
    seed = int(cfg.seed) + learner.iteration * n * w
    env = learner.env
    makers = [partial(worker_env, vector_env_creator, dict(env_config or {}), n,
                      learner.obs_stats, env.reward_scale, env.agent_id, seed + k * n)
              for k in range(w)]
    if cfg.overlap:
        from heron.training.torchrl.overlap import OverlappedCollector

        return OverlappedCollector(makers[0], partial(make_actor, cfg, env.obs_dim,
                                                      env.act_dim, env.n_agents),
                                   learner.actor, frames_per_batch(cfg),
                                   seed=int(cfg.seed) + 1 + learner.iteration)
    return MultiSyncCollector(makers, learner.actor, frames_per_batch=frames_per_batch(cfg),
                              total_frames=-1, cat_results=0,
                              auto_register_policy_transforms=False)


# ---------------------------------------------------------------------- the run
def _obs_stats(cfg: TrainConfig, venv: Any, resumed: dict[str, Any] | None) -> Any:
    if resumed is not None:
        return resumed.get("obs_norm")
    if not cfg.normalize_obs:
        return None
    return vector_observation_stats(venv, steps=OBS_STATS_STEPS, seed=cfg.seed)


def _check_resume(meta: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    if meta.get("algo") != cfg.algo:
        raise ValueError(f"Checkpoint {str(path)!r} was trained with algo={meta.get('algo')!r};"
                         f" resume it with --algo {meta.get('algo')} (got {cfg.algo!r}).")
    if cfg.centralized_critic and meta.get("critic_layout") != CRITIC_LAYOUT:
        old = meta.get("critic_layout") or "one MLP per agent on state + id"
        raise ValueError(f"Checkpoint {str(path)!r} holds a centralised critic of an older "
                         f"layout ({old}), not {CRITIC_LAYOUT!r}: it cannot be resumed. Its actor "
                         "still evaluates (heron-power evaluate); train a new run instead.")


def _progress(cfg: TrainConfig) -> Any:
    from tqdm import tqdm

    return tqdm(total=cfg.iterations, unit="iter", disable=not cfg.verbose, dynamic_ncols=True,
                desc=f"torchrl {cfg.algo}")


def _tensorboard(cfg: TrainConfig, run_dir: Path, log: Callable[[str], None]) -> Any:
    if not cfg.tensorboard:
        return None
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        log("[heron] tensorboardX not installed: skipping TensorBoard logs.")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def train(cfg: TrainConfig, vector_env_creator: VectorEnvCreator,
          env_config: dict[str, Any] | None = None, *,
          log: Callable[[str], None] = print) -> RunResult:
    """Run ``cfg.iterations`` PPO iterations (more, on top of a resumed checkpoint),
    or fewer when ``cfg.max_time_s`` runs out; returns the :class:`RunResult`."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.torch_threads:
        torch.set_num_threads(int(cfg.torch_threads))
    resume_state = resume_meta = None
    if cfg.resume:
        resume_state, resume_meta = load_checkpoint(Path(cfg.resume).resolve())
        _check_resume(resume_meta, cfg, Path(cfg.resume))
    used_env_config = dict(env_config or {})
    used_env_config["share_reward"] = bool(cfg.share_reward)
    if cfg.protocol is not None:
        used_env_config["protocol"] = cfg.protocol
    run_dir = make_run_dir(cfg)
    (run_dir / "config.json").write_text(json.dumps(
        {"train": cfg.to_dict(), "trainer": "torchrl",
         "env_config": _jsonable(used_env_config)}, indent=2))
    result = RunResult(run_dir=run_dir, config=cfg)
    if cfg.verbose:
        log(f"[heron] run folder: {run_dir}")
    if num_collectors(cfg) > 1 and cfg.verbose:
        log(f"[heron] {num_collectors(cfg)} collector processes x "
            f"{cfg.num_envs_per_worker} copies each.")

    t_start = time.perf_counter()
    venv = vector_env_creator(used_env_config, int(cfg.num_envs_per_worker))
    learner = build_learner(cfg, venv, _obs_stats(cfg, venv, resume_meta))
    if resume_state is not None:
        _restore(learner, resume_state, resume_meta)
        # fresh days and sampling noise, still a function of the seed and the step count
        torch.manual_seed(cfg.seed + learner.iteration)
        learner.env.set_seed(cfg.seed + learner.iteration * learner.env.batch_size[0])
        if cfg.verbose:
            log(f"[heron] resumed from {cfg.resume} at iteration {learner.iteration}, "
                f"{learner.env_steps} env steps")
    start_steps = learner.env_steps
    collector = make_collector(learner, cfg, vector_env_creator, used_env_config)
    tracker = EpisodeTracker(learner.env.batch_size[0] * num_collectors(cfg), cfg.reward_scale)
    tb = _tensorboard(cfg, run_dir, log)
    pbar = _progress(cfg)
    emit = pbar.write if (log is print and cfg.verbose) else log
    completed = False
    csv_file = open(run_dir / "metrics.csv", "w", newline="")  # closed in finally
    try:
        fields = METRIC_FIELDS + (LAGRANGE_FIELDS if cfg.algo == "mappo-lag" else [])
        writer = csv.DictWriter(csv_file, fieldnames=fields)
        writer.writeheader()
        batches = iter(collector)
        for _ in range(cfg.iterations):
            t0 = time.perf_counter()
            batch = next(batches)
            row = _iteration(learner, batch, cfg, tracker)
            if num_collectors(cfg) > 1 and not cfg.overlap:  # overlap: at hand-over
                collector.update_policy_weights_()
            row["iter_time_s"] = time.perf_counter() - t0
            row["total_time_s"] = time.perf_counter() - t_start
            result.history.append(row)
            writer.writerow(row)
            csv_file.flush()
            _log_row(row, tb, pbar, emit if cfg.verbose else None, start_steps)
            if cfg.checkpoint_every and learner.iteration % cfg.checkpoint_every == 0:
                result.checkpoints.append(save_checkpoint(
                    learner, cfg, run_dir / "checkpoints" / f"iter_{learner.iteration:04d}"))
            if cfg.max_time_s is not None and time.perf_counter() - t_start >= cfg.max_time_s:
                if cfg.verbose:
                    emit(f"[heron] time budget of {cfg.max_time_s:.0f}s reached after "
                         f"iteration {learner.iteration}.")
                break
        completed = True
    except KeyboardInterrupt:
        result.interrupted = True
        log("[heron] interrupted: saving a final checkpoint.")
    finally:
        pbar.close()
        csv_file.close()
        if result.history and (completed or result.interrupted):
            name = "interrupted" if result.interrupted else "final"
            result.final_checkpoint = save_checkpoint(learner, cfg, run_dir / "checkpoints" / name)
            result.checkpoints.append(result.final_checkpoint)
        collector.shutdown()
        venv_close = getattr(venv, "close", None)
        if callable(venv_close):
            venv_close()
        if result.history:
            plot_learning_curve(result.history, run_dir / "learning_curve.png",
                                title=f"torchrl {cfg.algo} ({run_dir.name})")
        if tb is not None:
            tb.close()
    if cfg.verbose and result.final_checkpoint is not None:
        log(f"[heron] final checkpoint: {result.final_checkpoint}")
    return result


def _iteration(learner: Learner, batch: Any, cfg: TrainConfig,
               tracker: EpisodeTracker) -> dict[str, float]:
    real = int((~batch.get(("next", "autoreset"))).sum())
    episodes = tracker.add(batch)          # env rewards, before shaping or a Lagrangian penalty
    extra: dict[str, float] = {}
    if cfg.extra.get("potential_shaping"):
        potential_shaping(batch, cfg.gamma, learner.env.reward_scale)
    if cfg.extra.get("terminal_episode_end"):
        end_episodes_as_terminal(batch)
    if cfg.algo == "mappo-lag":
        extra["lagrange_multiplier"] = learner.lagrange_multiplier   # the one PPO sees now
        extra["batch_violation_rate"] = lagrangian_step(learner, batch, cfg)
    losses = ppo_update(learner, batch, cfg)
    learner.iteration += 1
    learner.env_steps += real
    return {"iteration": learner.iteration, "env_steps": float(learner.env_steps),
            **episodes, **losses, **extra}


def _log_row(row: dict[str, float], tb: Any, pbar: Any, emit: Callable[[str], None] | None,
             start_steps: int = 0) -> None:
    steps = row["env_steps"] - start_steps
    steps_per_s = steps / row["total_time_s"] if row["total_time_s"] else 0.0
    pbar.set_postfix({"env steps/s": f"{steps_per_s:.0f}",
                      "return": f"{row['episode_return_mean']:.2f}",
                      "cost": f"{row['cost_mean']:.1f}",
                      "viol": f"{row['violation_rate']:.3f}",
                      **({"lambda": f"{row['lagrange_multiplier']:.3f}"}
                         if "lagrange_multiplier" in row else {})}, refresh=False)
    pbar.update()
    if emit is not None:
        emit(format_line(row))
    if tb is not None:
        for k, v in row.items():
            if k != "iteration" and not math.isnan(float(v)):
                tb.add_scalar(f"heron/{k}", v, row["iteration"])

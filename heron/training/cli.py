"""Domain-agnostic training CLI; case studies supply only the env pieces.

A case study's ``main`` is a few lines::

    def main(argv=None):
        return run_cli(argv, env_creator=make_env, env_config_for=config_for,
                       test_env_overrides={"max_episode_steps": 24})

so every HERON domain gets the same flags (``--test``, ``--algo``,
``--independent-policies``, ``--resume``, ``--wandb`` ...), with the same meaning.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from heron.training.config import ALGOS, TRAINERS, TrainConfig

#: ``--test``: prove the pipeline end to end in about a minute on two cores.
TEST_OVERRIDES: dict[str, Any] = {
    "iterations": 3,
    "train_batch_size": 192,
    "minibatch_size": 64,
    "num_epochs": 2,
    "hidden_sizes": (32, 32),
    "num_workers": 0,
}
#: ``--test --trainer torchrl``: few copies, so 192 env steps are whole episodes.
#: No overlap: a second process costs more to start than the test's few iterations.
TORCHRL_TEST_OVERRIDES: dict[str, Any] = {"num_envs_per_worker": 8, "overlap": False}


def build_parser(
    prog: str | None = None,
    description: str | None = None,
    protocols: Sequence[str] | None = None,
    default_setup: str | None = None,
    train_defaults: dict[str, Any] | None = None,
) -> argparse.ArgumentParser:
    """The shared flags. ``train_defaults`` are a domain's own TrainConfig defaults
    (hyper-parameters that worked for it): they replace HERON's generic ones, ``--test``
    still shrinks the run, and explicit flags still win."""
    train_defaults = dict(train_defaults or {})
    d = TrainConfig(**train_defaults)
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.set_defaults(_train_defaults=train_defaults)
    p.add_argument("--test", action="store_true",
                   help="quick smoke run: 3 iterations with tiny batches")
    p.add_argument("--algo", choices=ALGOS, default=None,
                   help="mappo: shared policy (default); ippo: one policy per agent; "
                        "mappo-cc: shared actor + centralised critic on the global state; "
                        "mappo-lag: mappo-cc + learnt Lagrange multiplier on the violation "
                        "rate (--trainer torchrl)")
    p.add_argument("--trainer", choices=TRAINERS, default=None,
                   help="rllib (default): RLlib on the single env; torchrl: TorchRL on the "
                        "vectorized env, --num-envs-per-worker copies in one process")
    p.add_argument("--independent-policies", action="store_true",
                   help="IPPO: one policy per agent (same as --algo ippo)")
    p.add_argument("--iterations", type=int, default=None, help=f"default {d.iterations}")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="wall-clock budget: stop after the iteration that ends past it")
    p.add_argument("--num-workers", type=int, default=None,
                   help=f"RLlib env runners, or with --trainer torchrl collector processes "
                        f"of --num-envs-per-worker copies each (default {d.num_workers}: "
                        "sample in the driver)")
    p.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                   help="--trainer torchrl: collect the next batch in a second process "
                        "while PPO updates on this one (policy one update old; "
                        f"default {'on' if d.overlap else 'off'})")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--gamma", type=float, default=d.gamma)
    p.add_argument("--train-batch-size", type=int, default=None,
                   help=f"env steps per iteration (default {d.train_batch_size})")
    p.add_argument("--minibatch-size", type=int, default=None, help=f"default {d.minibatch_size}")
    p.add_argument("--num-epochs", type=int, default=None, help=f"default {d.num_epochs}")
    p.add_argument("--lambda", dest="lambda_", type=float, default=d.lambda_,
                   help=f"GAE lambda (default {d.lambda_})")
    p.add_argument("--entropy-coeff", type=float, default=d.entropy_coeff,
                   help=f"default {d.entropy_coeff}")
    p.add_argument("--hidden-sizes", type=int, nargs="+", default=None,
                   help=f"MLP layer sizes (default {' '.join(map(str, d.hidden_sizes))})")
    p.add_argument("--reward-scale", type=float, default=d.reward_scale,
                   help=f"multiply rewards by this for PPO (default {d.reward_scale})")
    p.add_argument("--normalize-obs", action=argparse.BooleanOptionalAction,
                   default=d.normalize_obs,
                   help="fixed observation normalisation measured before training "
                        f"(default {'on' if d.normalize_obs else 'off'})")
    p.add_argument("--num-envs-per-worker", type=int, default=d.num_envs_per_worker,
                   help=f"envs stepped side by side per env runner (default "
                        f"{d.num_envs_per_worker})")
    p.add_argument("--share-reward", action="store_true",
                   help="every agent gets the mean reward (cooperative)")
    p.add_argument("--setup", default=default_setup, help="domain setup name")
    p.add_argument("--protocol", default=None,
                   choices=list(protocols) if protocols else None,
                   help="coordination protocol, passed to the env as env_config['protocol']")
    p.add_argument("--checkpoint-dir", default=d.checkpoint_dir,
                   help="root of run folders: <DIR>/<algo>-<timestamp>/ (default: runs)")
    p.add_argument("--run-dir", default=None, help="exact run folder (overrides --checkpoint-dir)")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                   help="also checkpoint every N iterations (0: final only)")
    p.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue from a checkpoint folder (runs --iterations more). This "
                        "restores RLlib's checkpoint files, which UNPICKLES them: a checkpoint "
                        "can run code when loaded, so resume only checkpoints you trust "
                        "(evaluation loads the pickle-free policy files instead)")
    p.add_argument("--ray-address", default=None,
                   help="connect to a running Ray cluster, e.g. 127.0.0.1:6379 or auto")
    p.add_argument("--sample-timeout", type=float, default=d.sample_timeout_s,
                   help="seconds an env runner may take per sample() call")
    p.add_argument("--wandb", action="store_true", help="log to Weights & Biases")
    p.add_argument("--wandb-project", default=d.wandb_project)
    p.add_argument("--no-cuda", action="store_true", help="never use a GPU")
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no per-iteration lines")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    algo = args.algo
    if args.independent_policies:
        if algo not in (None, "ippo"):
            raise SystemExit(
                f"error: --independent-policies means --algo ippo, not --algo {algo}.")
        algo = "ippo"
    values: dict[str, Any] = dict(getattr(args, "_train_defaults", None) or {})
    values.update({
        "algo": algo or values.get("algo", "mappo"),
        "trainer": args.trainer or values.get("trainer", "rllib"),
        "seed": args.seed,
        "lr": args.lr,
        "gamma": args.gamma,
        "lambda_": args.lambda_,
        "entropy_coeff": args.entropy_coeff,
        "reward_scale": args.reward_scale,
        "normalize_obs": args.normalize_obs,
        "num_envs_per_worker": args.num_envs_per_worker,
        "share_reward": args.share_reward or bool(values.get("share_reward", False)),
        "setup": args.setup,
        "protocol": args.protocol,
        "checkpoint_dir": args.checkpoint_dir,
        "run_dir": args.run_dir,
        "checkpoint_every": args.checkpoint_every,
        "resume": args.resume,
        "ray_address": args.ray_address,
        "sample_timeout_s": args.sample_timeout,
        "wandb": args.wandb,
        "wandb_project": args.wandb_project,
        "no_cuda": args.no_cuda,
        "tensorboard": not args.no_tensorboard,
        "verbose": not args.quiet,
    })
    if args.max_minutes is not None:
        values["max_time_s"] = 60.0 * args.max_minutes
    if args.test:
        values.update(TEST_OVERRIDES)
        if values["trainer"] == "torchrl":
            values.update(TORCHRL_TEST_OVERRIDES)
    # Explicit flags beat --test defaults.
    explicit = {
        "iterations": args.iterations,
        "num_workers": args.num_workers,
        "overlap": args.overlap,
        "train_batch_size": args.train_batch_size,
        "minibatch_size": args.minibatch_size,
        "num_epochs": args.num_epochs,
        "hidden_sizes": tuple(args.hidden_sizes) if args.hidden_sizes else None,
    }
    values.update({k: v for k, v in explicit.items() if v is not None})
    if values.get("minibatch_size", TrainConfig.minibatch_size) > values.get(
        "train_batch_size", TrainConfig.train_batch_size
    ) and args.minibatch_size is None:
        values["minibatch_size"] = values["train_batch_size"]
    try:
        return TrainConfig(**values)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc


def run_cli(
    argv: Sequence[str] | None,
    env_creator: Callable[[dict[str, Any]], Any],
    env_config_for: Callable[[TrainConfig], dict[str, Any]],
    *,
    test_env_overrides: dict[str, Any] | None = None,
    prog: str | None = None,
    description: str | None = None,
    protocols: Sequence[str] | None = None,
    default_setup: str | None = None,
    train_defaults: dict[str, Any] | None = None,
    vector_env_creator: Callable[[dict[str, Any], int], Any] | None = None,
    torchrl_defaults: dict[str, Any] | None = None,
) -> Any:
    """Parse ``argv``, train, print where the run folder is; return the RunResult.

    ``--trainer torchrl`` trains on ``vector_env_creator(env_config, num_envs)``
    (default: :class:`heron.training.torchrl.LoopVectorEnv` over ``env_creator``);
    ``torchrl_defaults`` are the domain's defaults for that trainer, over
    ``train_defaults``."""
    from heron.training.runner import WandbMissingError, train

    train_defaults = defaults_for_trainer(argv, train_defaults, torchrl_defaults)
    parser = build_parser(prog, description, protocols, default_setup, train_defaults)
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    env_config = dict(env_config_for(cfg))
    if args.test and test_env_overrides:
        env_config.update(test_env_overrides)
    try:
        if cfg.trainer == "torchrl":
            result = _train_torchrl(cfg, env_creator, env_config, vector_env_creator)
        else:
            result = train(cfg, env_creator, env_config)
    except WandbMissingError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"Run folder: {result.run_dir}")
    return result


def defaults_for_trainer(argv: Sequence[str] | None, train_defaults: dict[str, Any] | None,
                         torchrl_defaults: dict[str, Any] | None) -> dict[str, Any]:
    """``train_defaults``, overlaid with ``torchrl_defaults`` when argv asks for
    ``--trainer torchrl``: the parser's defaults (and ``--help``) depend on it."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--trainer", default=None)
    trainer = pre.parse_known_args(argv)[0].trainer
    if trainer == "torchrl" or (trainer is None and (train_defaults or {}).get(
            "trainer") == "torchrl"):
        return {**(train_defaults or {}), **(torchrl_defaults or {})}
    return dict(train_defaults or {})


def _train_torchrl(cfg: TrainConfig, env_creator: Callable[[dict[str, Any]], Any],
                   env_config: dict[str, Any],
                   vector_env_creator: Callable[[dict[str, Any], int], Any] | None) -> Any:
    """TorchRL needs a vectorized env; without the domain's own, loop over single envs."""
    from heron.training import torchrl as heron_torchrl

    try:
        heron_torchrl.require_torchrl()
    except ImportError as exc:
        raise SystemExit(f"error: {exc}") from exc
    if vector_env_creator is None:
        def vector_env_creator(config: dict[str, Any], n: int) -> Any:
            return heron_torchrl.LoopVectorEnv(env_creator, config, n)
    return heron_torchrl.train(cfg, vector_env_creator, env_config)

"""RL training for the networked-microgrid env: the power-specific glue only.

Everything algorithmic (PPO / IPPO / MAPPO with a centralised critic, run folders,
checkpoints, metrics) lives in :mod:`heron.training`; this module says how to
build ``MultiAgentMicrogrids`` from a setup and exposes the CLI::

    cd case_studies/power
    python examples/05_mappo_training.py --test                  # ~1-2 min smoke run
    python examples/05_mappo_training.py --iterations 100 --share-reward
    python examples/05_mappo_training.py --algo mappo-cc --iterations 100
    python examples/05_mappo_training.py --independent-policies  # IPPO
    python examples/05_mappo_training.py --resume runs/mappo-.../checkpoints/final
    python examples/05_mappo_training.py --trainer torchrl --algo mappo-cc   # vectorized env

Microgrids own different devices, so their action spaces differ in size; the
shared-policy algorithms pad them to a common space
(:class:`heron.training.wrappers.PadToCommonSpaces`), IPPO keeps them native.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.training.config import TrainConfig

DEFAULT_SETUP = "ieee34_ieee13"
#: Training episodes are one day: evaluation scores whole test days, a day is the
#: natural cycle of load, solar and price, and short episodes give PPO many episode
#: boundaries (and a fresh random day) per batch.
TRAIN_EPISODE_STEPS = 24
#: Safety penalty ($ per pu of violation) the env uses while *training*. The setups'
#: ``penalty: 10`` makes a 0.02 pu overvoltage cost $0.2 against ~$30 per hour of
#: export revenue, so PPO learns to ignore voltage limits; at this weight the same
#: violation costs more than the reactive-power set-point that avoids it. Evaluation
#: reports cost and violations separately, whatever the penalty.
TRAIN_SAFETY_PENALTY = 1000.0
#: ``--test`` shortens episodes so three tiny iterations still finish episodes.
TEST_ENV_OVERRIDES: dict[str, Any] = {"max_episode_steps": TRAIN_EPISODE_STEPS}
#: Hyper-parameters that learn on this domain (see docs/training_results.md for the
#: runs behind them). Rewards are -($ cost) per hour and microgrid, O(10-100), so
#: they are scaled down; observations mix pu voltages, MW, $/MWh and % loadings, so
#: they are normalised.
TRAIN_DEFAULTS: dict[str, Any] = {
    "reward_scale": 0.01,
    "normalize_obs": True,
    "lr": 3e-4,
    "gamma": 0.99,
    "train_batch_size": 1000,
    "minibatch_size": 250,
    "num_epochs": 8,
    "num_envs_per_worker": 4,
}
#: ``--trainer torchrl`` (on :class:`~powergrid.envs.vector_env.VectorMultiAgentMicrogrids`):
#: one iteration is one day of 128 copies; the default algorithm is ``mappo-lag``, the
#: one that keeps the violation rate under its 0.5 % target.
TORCHRL_TRAIN_DEFAULTS: dict[str, Any] = {
    "trainer": "torchrl",
    "algo": "mappo-lag",
    "num_envs_per_worker": 128,
    "train_batch_size": 128 * TRAIN_EPISODE_STEPS,
    "minibatch_size": 512,
    "num_epochs": 4,
    # collect the next batch in a second process while PPO updates (heron.training.
    # torchrl.overlap): with it, 4 epochs at twice the env steps/s learnt as much in
    # 3 minutes as 8 epochs did (bench_training; docs/training_results.md)
    "overlap": True,
    # measured on 14 test days after ~600k env steps (docs/training_results.md): a
    # state-independent exploration scale started at exp(-0.7) ~ 0.5 and normalised
    # advantages halve the gap of the per-state scale; action_margin lets generators
    # reach p_max; 512-step minibatches learn more per env step than 1,024-step ones
    # (the fast env makes gradient steps, not samples, the scarce resource)
    # lr 6e-4 and potential-based shaping on the stored battery energy (heron.training.
    # torchrl.trainer.potential_shaping): 10-minute screens on seed 0, 84 test days
    # (docs/training_results.md): gap 4.62 % (lr 3e-4, no shaping), 4.19 % (shaping),
    # 3.77 % (shaping, lr 6e-4), 3.96 % (shaping, lr 1e-3)
    "lr": 6e-4,
    # a day is a finite-horizon task (the env values no energy left at its end), so
    # GAE stops at the day's end and gamma 1.0 makes the return the day's cost, the
    # quantity evaluated (heron.training.torchrl.trainer.end_episodes_as_terminal).
    # 3-seed 10-minute bench, 84 test days: gap 2.38 % (4.17 % before; docs/training_results.md)
    "gamma": 1.0,
    "extra": {"log_std_init": -0.7, "normalize_advantage": True, "action_margin": 0.1,
              "potential_shaping": True, "terminal_episode_end": True},
}


#: The trainer ``heron-power train``, ``heron-power benchmark`` and ``make demo
#: --train-minutes`` use unless told otherwise: TorchRL on the vectorized env beats
#: RLlib on ``bench/bench_training.py`` in env steps/s and in the policy it learns in
#: the same minutes (docs/training_results.md). ``examples/05_mappo_training.py``, the
#: guide's script, keeps RLlib as its default.
CLI_DEFAULT_TRAINER = "torchrl"
#: The algorithm the demo trains (``--train-minutes``).
DEMO_ALGO = "mappo-lag"


def with_default_trainer(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--trainer CLI_DEFAULT_TRAINER`` unless it names a trainer."""
    argv = list(argv)
    if any(a == "--trainer" or a.startswith("--trainer=") for a in argv):
        return argv
    return ["--trainer", CLI_DEFAULT_TRAINER, *argv]


def make_env(env_config: dict[str, Any]) -> Any:
    """``env_creator`` for heron.training: an unwrapped ``MultiAgentMicrogrids``.

    The env's own space padding is turned off: heron's trainers pad themselves
    (:class:`heron.training.wrappers.PadToCommonSpaces`, which also appends a one-hot
    agent id) and measure observation statistics on the agents' native observations.
    """
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

    return MultiAgentMicrogrids({**env_config, "pad_spaces": False})


def make_vector_env(env_config: dict[str, Any], num_envs: int) -> Any:
    """``vector_env_creator`` for ``--trainer torchrl``: N copies stepped as arrays, spaces
    padded to common ones (the TorchRL adapter needs one shape for all agents).

    The power flow runs its serial kernels: numba's parallel ones wait for their
    slowest thread at every call, and beside any other busy process on two cores a
    training iteration went from 0.8 s to 10 s (measured); serial, the rollout is
    still a fifth of an iteration (the PPO update is the rest) and keeps its speed
    when the machine is shared, or when runs train side by side."""
    from powergrid.envs.vector_env import VectorMultiAgentMicrogrids

    return VectorMultiAgentMicrogrids({**env_config, "pad_spaces": True}, num_envs=num_envs,
                                      parallel=False)


def env_config_for(cfg: TrainConfig) -> dict[str, Any]:
    """The env_config for a run: the setup's config with the training switches on."""
    from powergrid.setups.loader import load_setup

    env_config = dict(load_setup(cfg.setup or DEFAULT_SETUP))
    env_config["train"] = True
    env_config["share_reward"] = bool(cfg.share_reward)
    env_config["max_episode_steps"] = TRAIN_EPISODE_STEPS
    env_config["penalty"] = max(float(env_config.get("penalty", 0.0)), TRAIN_SAFETY_PENALTY)
    if cfg.protocol is not None:
        # Fail now, not after Ray started and the first env was built.
        from powergrid.envs.protocols import accepted_protocols

        valid = accepted_protocols()
        if cfg.protocol not in valid:
            raise SystemExit(
                f"error: unknown --protocol {cfg.protocol!r}; choose one of {valid}."
            )
        env_config["protocol"] = cfg.protocol
    return env_config


def parse_config(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse CLI flags into a TrainConfig without training (used by tests and tools)."""
    from heron.training.cli import build_parser, config_from_args, defaults_for_trainer

    defaults = defaults_for_trainer(argv, TRAIN_DEFAULTS, TORCHRL_TRAIN_DEFAULTS)
    parser = build_parser(default_setup=DEFAULT_SETUP, train_defaults=defaults)
    return config_from_args(parser.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> Any:
    """CLI entry point; returns the :class:`heron.training.runner.RunResult`."""
    from heron.training.cli import run_cli

    return run_cli(
        argv,
        env_creator=make_env,
        env_config_for=env_config_for,
        test_env_overrides=TEST_ENV_OVERRIDES,
        prog="05_mappo_training.py",
        description="Train microgrid controllers with PPO (MAPPO / IPPO / MAPPO-CC) on "
                    "RLlib or, with --trainer torchrl, TorchRL.",
        default_setup=DEFAULT_SETUP,
        train_defaults=TRAIN_DEFAULTS,
        vector_env_creator=make_vector_env,
        torchrl_defaults=TORCHRL_TRAIN_DEFAULTS,
    )


if __name__ == "__main__":
    main()

"""Training configuration shared by every HERON case study.

One flat dataclass rather than RLlib's ``AlgorithmConfig`` so that a run can be
described by a JSON file (``config.json`` in each run folder), driven from any
argparse CLI, and validated *before* Ray is started: a typo in ``algo`` should fail
in milliseconds, not after a cluster spun up.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: ``mappo``    one policy shared by every agent (parameter sharing; MAPPO-style PPO with
#:              decentralised critics, the "shared-policy PPO" of most MARL code bases).
#: ``ippo``     one independent policy (and critic) per agent.
#: ``mappo-cc`` true MAPPO: a shared decentralised actor that sees only the agent's local
#:              observation and a centralised critic V(s) over the global state.
#: ``mappo-lag`` ``mappo-cc`` with a Lagrangian constraint on the violation rate: the
#:              multiplier is learnt by dual ascent (``--trainer torchrl`` only).
ALGOS = ("mappo", "ippo", "mappo-cc", "mappo-lag")
#: ``rllib``    RLlib PPO on the single env (any HERON ParallelEnv; Ray scales it out).
#: ``torchrl``  TorchRL PPO on a vectorized env (:mod:`heron.training.torchrl`): N copies
#:              stepped as arrays, one process; ``num_envs_per_worker`` is N.
TRAINERS = ("rllib", "torchrl")


@dataclass
class TrainConfig:
    """Everything that defines a training run, independent of the domain.

    Defaults are small on purpose: HERON's test machines have two cores, and a
    default that silently asks for 4 env runners and a GPU is a default that hangs.
    """

    algo: str = "mappo"
    trainer: str = "rllib"
    iterations: int = 100
    #: Wall-clock budget in seconds: stop after the first iteration that ends past it
    #: (``None``: run all ``iterations``). Benchmarks compare settings at equal time.
    max_time_s: float | None = None
    num_workers: int = 0
    seed: int = 0
    lr: float = 3e-4
    gamma: float = 0.99
    lambda_: float = 0.95
    train_batch_size: int = 4000
    minibatch_size: int = 256
    num_epochs: int = 10
    entropy_coeff: float = 0.0
    clip_param: float = 0.2
    vf_clip_param: float = 1e4
    hidden_sizes: tuple[int, ...] = (64, 64)
    #: Rewards are multiplied by this before PPO sees them (metrics keep the env's
    #: units). Keeps value targets O(1-10) when a domain's rewards are O(10-100).
    reward_scale: float = 1.0
    #: Normalise observations with fixed per-agent mean/std measured under random
    #: actions before training (stored in the checkpoint, applied at evaluation).
    normalize_obs: bool = False
    #: Environments stepped side by side in each env runner: one batched forward pass
    #: serves all of them, which is most of the sampling cost for small simulators.
    num_envs_per_worker: int = 1
    #: ``torchrl`` only: collect the next batch in one collector process while PPO
    #: updates on this one, so that the two cores work at once. Each batch then comes
    #: from the policy one update older (PPO's ratio is taken against the policy that
    #: collected it, so clipping still holds). Still repeatable: the collector gets new
    #: weights only between batches, never while it steps.
    overlap: bool = False
    #: torch intra-op threads in this process (0: torch's default). Tiny MLPs run
    #: *slower* with several threads, badly so on a loaded 2-core machine.
    torch_threads: int = 1
    #: Env steps per env-runner sample call; ``None`` lets RLlib derive it from the batch.
    rollout_fragment_length: int | None = None
    #: Generous: a slow simulator otherwise makes RLlib report "No samples returned".
    sample_timeout_s: float = 600.0
    share_reward: bool = False
    #: Root folder of run folders; each run writes ``<checkpoint_dir>/<algo>-<timestamp>/``.
    checkpoint_dir: str = "runs"
    #: Exact run folder (overrides the ``<checkpoint_dir>/<algo>-<timestamp>`` default).
    run_dir: str | None = None
    #: Save a checkpoint every N iterations (0: only the final one).
    checkpoint_every: int = 0
    resume: str | None = None
    ray_address: str | None = None
    wandb: bool = False
    wandb_project: str = "heron"
    tensorboard: bool = True
    no_cuda: bool = False
    #: Passed to the environment as ``env_config["protocol"]`` when set.
    protocol: str | None = None
    #: Name of a domain setup (case studies map it to an env_config).
    setup: str | None = None
    #: Print one line per iteration.
    verbose: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {ALGOS}, got {self.algo!r}.")
        if self.trainer not in TRAINERS:
            raise ValueError(f"trainer must be one of {TRAINERS}, got {self.trainer!r}.")
        if self.algo == "mappo-lag" and self.trainer != "torchrl":
            raise ValueError("algo 'mappo-lag' needs trainer='torchrl' (--trainer torchrl).")
        for name in ("iterations", "train_batch_size", "minibatch_size", "num_epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}.")
        if self.max_time_s is not None and not self.max_time_s > 0:
            raise ValueError(f"max_time_s must be > 0, got {self.max_time_s}.")
        if not self.reward_scale > 0:
            raise ValueError(f"reward_scale must be > 0, got {self.reward_scale}.")
        if self.num_envs_per_worker < 1:
            raise ValueError(f"num_envs_per_worker must be >= 1, got {self.num_envs_per_worker}.")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}.")
        if self.overlap and (self.trainer != "torchrl" or self.num_workers > 1):
            raise ValueError(
                "overlap needs trainer='torchrl' and at most one collector process "
                f"(got trainer={self.trainer!r}, num_workers={self.num_workers}): with "
                "--num-workers W > 1 the collectors already run in parallel; drop --overlap.")
        if self.minibatch_size > self.train_batch_size:
            # RLlib would silently train on one minibatch; say so instead.
            raise ValueError(
                f"minibatch_size ({self.minibatch_size}) must not exceed "
                f"train_batch_size ({self.train_batch_size})."
            )
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}.")
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)

    @property
    def shared_policy(self) -> bool:
        """Whether all agents map to one module (and spaces must be padded to match)."""
        return self.algo in ("mappo", "mappo-cc", "mappo-lag")

    @property
    def centralized_critic(self) -> bool:
        return self.algo in ("mappo-cc", "mappo-lag")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown TrainConfig keys: {sorted(unknown)}.")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

"""Policies map an observation to an action in the agent's action space.

RL checkpoints, rule-based controllers, optimisers' replays and random baselines
all implement the same small interface, so evaluation code never special-cases
where an action came from.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class Policy:
    """Interface: ``forward(observation) -> action``; ``reset()`` between episodes."""

    def forward(self, observation: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(observation).")

    def __call__(self, observation: Any) -> Any:
        return self.forward(observation)

    def reset(self, seed: int | None = None) -> None:
        """Clear per-episode memory; stateless policies need not override."""


class RandomPolicy(Policy):
    """Uniformly random actions from ``action_space``; seeded for reproducibility."""

    def __init__(self, action_space: gym.Space, seed: int | None = None) -> None:
        if not isinstance(action_space, gym.Space):
            raise TypeError(
                f"RandomPolicy needs a gymnasium Space, got {type(action_space).__name__}."
            )
        self.action_space = action_space
        self.action_space.seed(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.action_space.seed(seed)

    def forward(self, observation: Any) -> Any:
        return self.action_space.sample()


class ConstantPolicy(Policy):
    """Always returns the same action: handy as a do-nothing baseline and in tests."""

    def __init__(self, action: Any) -> None:
        self.action = np.asarray(action, dtype=np.float32)

    def forward(self, observation: Any) -> Any:
        return self.action.copy()

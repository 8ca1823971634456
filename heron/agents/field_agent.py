"""Field agents control one physical device (the leaves of the hierarchy)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from heron.agents.base import FIELD_LEVEL, Agent
from heron.core.action import validate_box_action

__all__ = ["FieldAgent", "FIELD_LEVEL"]


class FieldAgent(Agent):
    level = FIELD_LEVEL

    def get_action_space(self) -> spaces.Box:
        """Normalised action space; subclasses override. Default: no control input."""
        return spaces.Box(low=-1.0, high=1.0, shape=(0,), dtype=np.float32)

    def validate_action(self, action: Any) -> np.ndarray:
        """Shape-check, reject NaN/inf, clip to the action space."""
        return validate_box_action(action, self.get_action_space(), self.agent_id)

    def set_action(self, action: Any) -> None:
        """Validated entry point; subclasses implement :meth:`apply_action`."""
        self.apply_action(self.validate_action(action))

    def apply_action(self, action: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement apply_action(action).")

    def respond_to_price(self, price: float) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__} does not implement respond_to_price(price), "
            "so it cannot join a PriceSignalProtocol."
        )

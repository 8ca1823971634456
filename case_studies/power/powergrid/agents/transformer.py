"""Transformer with an on-load tap changer (OLTC) as a controllable device."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from gymnasium.spaces import Box
from pydantic import model_validator

from powergrid import physics
from powergrid.agents.action_map import to_unit
from powergrid.agents.config_schema import (
    Integer,
    Name,
    NonNegativeReal,
    PositiveReal,
    Text,
    device_config,
    raise_problems,
)
from powergrid.agents.device_agent import (
    Capabilities,
    DeviceAgent,
    DeviceLimits,
    Setpoint,
    build_config,
)
from powergrid.core.features.tap_changer import TapChanger
from powergrid.envs.array_devices import ArrayDevices
from powergrid.utils.cost import tap_change_cost


@device_config
class TransformerConfig:
    """An RL tap changer's ``device_state_config`` (types and ranges: the setup schema too)."""

    trafo: Name                # trafo name within the grid, e.g. "XFM1" or "PCC"
    tap_min: Integer = -16
    tap_max: Integer = 16
    tap_step_percent: PositiveReal = 0.625
    init_tap: Integer = 0
    tap_cost: NonNegativeReal = 1.0      # $ per tap operation (wear of the diverter switch)
    bus: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> TransformerConfig:
        problems = []
        if self.tap_min >= self.tap_max:
            problems.append(f"tap_min ({self.tap_min}) must be < tap_max ({self.tap_max}).")
        elif not self.tap_min <= self.init_tap <= self.tap_max:
            problems.append(f"init_tap {self.init_tap} outside [{self.tap_min}, {self.tap_max}].")
        raise_problems(problems)
        return self


class TransformerArrays(ArrayDevices):
    """The tap changers of D transformers in N copies: :class:`Transformer`'s maths on
    arrays (the same :mod:`powergrid.physics` functions), for the vectorized env."""

    def __init__(self, devices, num_envs: int, dt: float) -> None:
        super().__init__(devices, num_envs, dt)
        self.tap_min = self.config_array(devices, "tap_min")
        self.tap_max = self.config_array(devices, "tap_max")
        self.step_pct = self.config_array(devices, "tap_step_percent")
        self.tap_cost = self.config_array(devices, "tap_cost")
        self.init = self.config_array(devices, "init_tap")
        self.tap = np.tile(self.init, (self.num_envs, 1))
        self.prev = self.tap.copy()

    def reset(self, copies: np.ndarray) -> None:
        self.tap[copies] = self.init
        self.prev[copies] = self.init

    def apply_actions(self, actions: np.ndarray, copies: np.ndarray) -> None:
        self.prev[copies] = self.tap[copies]
        self.tap[copies] = physics.tap_position(actions[copies, :, 0], self.tap_min,
                                                self.tap_max)

    def injection(self) -> tuple[np.ndarray, np.ndarray]:
        zero = np.zeros_like(self.tap)
        return zero, zero

    def cost_safety(self) -> tuple[np.ndarray, np.ndarray]:
        return physics.tap_change_cost(self.prev, self.tap, self.tap_cost), np.zeros_like(self.tap)

    def observe(self) -> np.ndarray:
        """The ``tap`` block, its entries in ``TapChanger``'s own field order."""
        values = {"tap_pos": self.tap, "tap_min": self.tap_min, "tap_max": self.tap_max,
                  "tap_step_percent": self.step_pct}
        return np.stack([np.broadcast_to(values[f.name], self.tap.shape)
                         for f in dataclasses.fields(TapChanger)], axis=-1)

    def taps(self) -> np.ndarray:
        return self.tap


class Transformer(DeviceAgent):
    """Action in [-1, 1] maps to a discrete tap position in ``[tap_min, tap_max]``."""

    pp_element = "trafo"
    config_class = TransformerConfig
    capabilities = Capabilities(tap=True)
    array_devices = TransformerArrays

    def __init__(self, agent_id: str, device_state_config: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(agent_id=agent_id, device_state_config=device_state_config, **kwargs)
        self.config = build_config(TransformerConfig, self._config, f"Transformer {agent_id!r}")
        c = self.config
        self.state.add_feature("tap", TapChanger(tap_pos=c.init_tap, tap_min=c.tap_min,
                                                 tap_max=c.tap_max,
                                                 tap_step_percent=c.tap_step_percent))
        self._prev_tap = c.init_tap
        self._space = Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def get_action_space(self) -> Box:
        return self._space

    def apply_action(self, a: np.ndarray) -> None:
        """Apply an already validated (finite, clipped) action."""
        c = self.config
        self._prev_tap = self.state.tap.tap_pos
        self.state.tap.tap_pos = int(physics.tap_position(a[0], c.tap_min, c.tap_max))

    def limits(self) -> DeviceLimits:
        return DeviceLimits(tap_min=self.config.tap_min, tap_max=self.config.tap_max)

    def action_for(self, setpoint: Setpoint) -> np.ndarray:
        """Normalised action(s) that ``apply_action`` maps to tap position(s)
        ``setpoint.tap`` (P and Q do not apply to a tap changer)."""
        if setpoint.tap is None:
            raise ValueError(f"Transformer {self.agent_id!r}: the setpoint has no tap; "
                             "pass Setpoint(tap=...).")
        c = self.config
        t = np.atleast_1d(np.asarray(setpoint.tap, dtype=float))
        out = to_unit(t, c.tap_min, c.tap_max).reshape(-1, 1).astype(np.float32)
        return out[0] if np.ndim(setpoint.tap) == 0 else out

    def injection(self) -> tuple[float, float]:
        return 0.0, 0.0

    def update_cost_safety(self) -> None:
        self.cost = tap_change_cost(self._prev_tap, self.state.tap.tap_pos, self.config.tap_cost)
        self.safety = 0.0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._prev_tap = self.config.init_tap

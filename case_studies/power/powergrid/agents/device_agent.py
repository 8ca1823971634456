"""DeviceAgent: the power-domain field agent.

A device turns a normalised action into a physical setpoint (``set_device_action``),
learns what happened from the power flow (``update_state``) and prices it
(``update_cost_safety``). How it appears in the network is declared with
``pp_element``: ``"sgen"`` (generator convention), ``"storage"`` (pandapower's
storage, load convention: positive = charging) or ``"trafo"`` (tap control).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from heron.agents.field_agent import FIELD_LEVEL, FieldAgent
from heron.core.policies import Policy
from heron.protocols.base import Protocol
from powergrid.agents.config_schema import ValidationError, describe_errors
from powergrid.core.state.state import DeviceState


class ConfigError(ValueError):
    """A setup/device configuration value is invalid; the message names key and fix."""


def build_config(config_cls, device_state_config: dict[str, Any], who: str):
    """Instantiate a config dataclass, turning typos into errors that name valid keys."""
    import dataclasses

    valid = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(device_state_config) - valid
    if unknown:
        raise ConfigError(
            f"{who}: unknown device_state_config key(s) {sorted(unknown)}. "
            f"Valid keys for {config_cls.__name__}: {sorted(valid)}."
        )
    try:
        cfg = config_cls(**device_state_config)
    except ValidationError as exc:  # a schema'd config (powergrid.agents.config_schema)
        raise ConfigError(f"{who}: " + "; ".join(describe_errors(exc, config_cls))) from None
    except TypeError as exc:
        raise ConfigError(f"{who}: {exc}. Check device_state_config.") from None
    validate = getattr(cfg, "validate", None)
    if validate is not None:
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(f"{who}: {exc}") from None
    return cfg


class DeviceAgent(FieldAgent):
    """Base class for power devices. Subclasses implement the physics."""

    pp_element: str = "sgen"
    #: the config dataclass this class builds from ``device_state_config`` (declared
    #: with :func:`~powergrid.agents.config_schema.device_config`); setup validation
    #: checks a config against it. ``None``: validation instantiates the device instead.
    config_class: ClassVar[type | None] = None
    #: optional: the same maths on arrays, for the vectorized env -- a subclass of
    #: :class:`powergrid.envs.array_devices.ArrayDevices`. It counts only on the class
    #: that declares it (a subclass re-declares it if its maths are unchanged); without
    #: it ``VectorMultiAgentMicrogrids`` steps the device copy by copy.
    array_devices: ClassVar[type | None] = None

    def __init__(
        self,
        agent_id: str,
        policy: Policy | None = None,
        protocol: Protocol | None = None,
        device_state_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(agent_id=agent_id, policy=policy, protocol=protocol, **kwargs)
        self.state = DeviceState(owner_id=self.agent_id, owner_level=FIELD_LEVEL)
        self._config = dict(device_state_config or {})
        self.cost = 0.0
        self.safety = 0.0
        self.pp_idx: int = -1
        self.dt: float = 1.0

    # -- the contract ----------------------------------------------------------------
    def apply_action(self, action: np.ndarray) -> None:
        self.set_device_action(action)

    def set_device_action(self, action: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement set_device_action.")

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        """Absorb power-flow results (terminal voltage etc.). Default: nothing to do."""

    def update_cost_safety(self) -> None:
        self.cost = 0.0
        self.safety = 0.0

    # -- network interface -------------------------------------------------------------
    def injection(self) -> tuple[float, float]:
        """(P, Q) in MW/MVAr, generator convention, that this device puts into the grid."""
        el = self.state.electrical
        return float(el.p_MW), float(el.q_MVAr)

    @property
    def bus(self) -> str:
        return str(self._config.get("bus", ""))

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.cost = 0.0
        self.safety = 0.0

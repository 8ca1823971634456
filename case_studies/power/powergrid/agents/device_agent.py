"""DeviceAgent: the power-domain field agent, and the one device contract.

A device turns a normalised action into a physical setpoint, learns what happened
from the power flow (``update_state``) and prices it (``update_cost_safety``). The
call chain runs one way: ``set_device_action(raw)`` (= heron's ``set_action``)
validates, then ``apply_action(validated)`` does the physics; the env, which
validated every action already, calls ``apply_action`` directly. A device written
as in the user guide, which overrides ``set_device_action`` only, has that method
adopted as its ``apply_action`` (see :meth:`DeviceAgent.__init_subclass__`).

Each device type declares once, in its own file:

* what it can do: ``capabilities`` (:class:`Capabilities`);
* its rated limits: :meth:`DeviceAgent.limits` and, at a given P,
  :meth:`DeviceAgent.reactive_range`;
* its action -> setpoint map (``apply_action``) and the inverse
  (:meth:`DeviceAgent.action_for`, from a :class:`Setpoint`).

Baselines, the oracle and its replay, MPC and the env read these, so adding a device
type touches its own file plus its registration. How it appears in the network is
``pp_element``: ``"sgen"`` (generator convention), ``"storage"`` (pandapower's
storage, load convention: positive = charging) or ``"trafo"`` (tap control).
"""

from __future__ import annotations

from dataclasses import dataclass
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


# -- the device contract: what a type can do, its limits, its setpoints ----------------
@dataclass(frozen=True)
class Capabilities:
    """What a device type can do, declared once on its class (``capabilities = ...``).

    Why a declaration: baselines, the oracle, MPC and the env choose a device's
    behaviour from it, never from its Python type or attribute names, so a new device
    type touches its own file and its registration only.
    """

    #: chooses its active power within [p_min, p_max] at a fuel cost (a generator)
    dispatchable: bool = False
    #: stores energy: state of charge, charges (P < 0) and discharges (P > 0)
    storage: bool = False
    #: delivers a share of an hourly availability (``available_power``), e.g. PV, wind
    curtailable: bool = False
    #: a transformer's discrete tap position
    tap: bool = False
    #: for curtailable devices: the dataset series driving it, "solar" or "wind"
    source: str = "solar"

    def __post_init__(self) -> None:
        if self.source not in ("solar", "wind"):
            raise ConfigError(f"Capabilities.source must be 'solar' or 'wind', got "
                              f"{self.source!r}.")


@dataclass(frozen=True)
class DeviceLimits:
    """Rated limits of a device (from its config), in the generator sign convention."""

    p_min_MW: float = 0.0
    p_max_MW: float = 0.0
    q_min_MVAr: float = 0.0
    q_max_MVAr: float = 0.0
    tap_min: int | None = None
    tap_max: int | None = None


@dataclass(frozen=True)
class Setpoint:
    """A physical operating point, scalars or arrays (one row per value).

    Every device turns one into the normalised action that produces it
    (:meth:`DeviceAgent.action_for`) and ignores the fields it has no use for.
    """

    p_MW: Any = 0.0
    q_MVAr: Any = 0.0
    #: tap position(s) for tap devices
    tap: Any = None
    #: unit commitment for dispatchable devices that have it
    on: bool = True
    #: for curtailable devices: the availability the setpoint was planned with
    #: (None: the device's current ``available_power``)
    p_available_MW: Any = None


#: capabilities inferred for classes that declare none, per class (see capabilities_of)
_INFERRED: dict[type, Capabilities] = {}


def capabilities_of(dev: Any) -> Capabilities:
    """The device's declared :class:`Capabilities`, or those inferred for a class that
    declares none.

    The inference is the documented fallback for devices written as in the user
    guide's recipe (which has no declaration): an ``available_power`` attribute means
    curtailable, driven by the wind series if the class name contains "wind", else by
    the solar one. Declare ``capabilities`` on the class to be explicit.
    """
    cls = type(dev)
    declared = getattr(cls, "capabilities", None)
    if declared is not None:
        return declared
    caps = _INFERRED.get(cls)
    if caps is None:
        curtailable = hasattr(dev, "available_power")
        wind = curtailable and "wind" in cls.__name__.lower()
        caps = _INFERRED[cls] = Capabilities(curtailable=curtailable,
                                             source="wind" if wind else "solar")
    return caps


def has_inverse(dev: Any) -> bool:
    """Whether the device implements :meth:`DeviceAgent.action_for` (setpoint -> action)."""
    return type(dev).action_for is not DeviceAgent.action_for


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
    #: what this type can do (see :class:`Capabilities`); ``None``: inferred, see
    #: :func:`capabilities_of`
    capabilities: ClassVar[Capabilities | None] = None
    #: whether apply_action is a guide-style set_device_action (see __init_subclass__)
    _adopted_recipe: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Adopt a guide-style ``set_device_action`` as the class's ``apply_action``.

        The guide's recipe implements the physics in ``set_device_action``. So that
        the chain still runs one way (validate, then ``apply_action``), a class that
        defines ``set_device_action`` while inheriting the abstract ``apply_action``
        gets its method as ``apply_action``; its ``set_device_action`` stays its own.
        """
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("set_device_action")
        # inherited apply_action: the abstract one, or a parent's adopted recipe method
        inherited = cls.apply_action is DeviceAgent.apply_action or cls._adopted_recipe
        if own is not None and "apply_action" not in cls.__dict__ and inherited:
            cls.apply_action = own
            cls._adopted_recipe = True

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
    def set_device_action(self, action: Any) -> None:
        """The guide's name for heron's validated entry point: validate, then apply."""
        self.apply_action(self.validate_action(action))

    def apply_action(self, action: np.ndarray) -> None:
        """Map an already validated (finite, clipped) action onto the device's setpoint."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement apply_action(action) (or, as in the "
            "user guide, set_device_action(action)).")

    def action_for(self, setpoint: Setpoint) -> np.ndarray:
        """The normalised action(s) that :meth:`apply_action` maps to ``setpoint``: the
        one inverse of the device's action map, clipped to its action space."""
        raise NotImplementedError(
            f"{type(self).__name__} has no inverse action map: implement "
            "action_for(setpoint) to use it with baselines, the oracle's replay or MPC.")

    def limits(self) -> DeviceLimits:
        """Rated limits (default: none, all zero)."""
        return DeviceLimits()

    def reactive_range(self, p_MW: Any) -> tuple[Any, Any]:
        """(Q_min, Q_max) the device can give at active power ``p_MW`` (default: the
        rated reactive limits; a device whose range depends on P overrides it)."""
        lim = self.limits()
        return lim.q_min_MVAr, lim.q_max_MVAr

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

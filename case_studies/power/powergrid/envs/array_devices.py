"""ArrayDevices: the opt-in array maths of a device class, for the vectorized env.

Why this exists: :class:`~powergrid.envs.vector_env.VectorMultiAgentMicrogrids` steps N
copies of a setup as arrays. A device class it does not know is stepped through a
per-copy fallback (one instance per copy, its scalar methods called copy by copy):
correct, but a Python loop over copies on every step. A class that also provides the
*same maths on arrays* lets the vector env step all of its instances, in every
microgrid and every copy, with one call per phase and no loop over copies.

The contract mirrors the scalar :class:`~powergrid.agents.device_agent.DeviceAgent`
contract method for method, so that writing it is a translation, not a redesign:

==========================================  ==========================================
``DeviceAgent`` (one device, one env)        ``ArrayDevices`` (D devices x N copies)
==========================================  ==========================================
``__init__`` (reads ``device_state_config``)  ``__init__(devices, num_envs, dt)``
``reset()``                                  ``reset(copies)``
``available_power = pu * p_rated``           ``set_available(available)``      [N, D]
``set_device_action(action)``                ``apply_actions(actions, copies)`` [N, D, A]
``injection() -> (p, q)``                    ``injection() -> (p, q)``          [N, D]
terminal voltage, then ``update_state()``    ``update_state(v_pu, va_deg, copies)``
``update_cost_safety()``; ``cost, safety``   ``cost_safety() -> (cost, safety)`` [N, D]
``state.to_array("upper_level")``            ``observe()``                     [N, D, k]
``state.tap.tap_pos`` (``pp_element="trafo"``)  ``taps()``                        [N, D]
==========================================  ==========================================

A device class opts in with one class attribute::

    class MyDevice(DeviceAgent):
        array_devices = MyDeviceArrays      # an ArrayDevices subclass
        ...

The attribute counts only on the class that declares it (``"array_devices" in
cls.__dict__``): a subclass that changes any behaviour would otherwise be stepped with
its parent's maths, silently wrong. A subclass whose maths are unchanged re-declares it
(``array_devices = MyDevice.array_devices``). A ``pp_element = "trafo"`` class (a tap
changer) also implements ``taps()``, the tap positions the env writes into the power
flow after every reset and action (the built-in :class:`Transformer` does). Without it,
the per-copy fallback runs, with its one-time ``PerCopyFallbackWarning`` naming the
class and the reason.

What the vector env does with it, per step (the order of the single env):

1. copies whose episode ended are reset: ``reset(copies)``, then ``injection()``;
2. renewable classes (instances with an ``available_power`` attribute, as the single
   env decides) get this hour's availability, ``pu * config.p_rated_MW`` per device
   and copy: ``set_available(available)``;
3. ``apply_actions(actions, copies)``, then ``injection()``: written into the power flow
   (``pp_element`` ``"sgen"`` or ``"storage"``; the env applies the table's sign, so the
   maths always speak the generator convention, positive = into the grid);
4. after the power flow: ``update_state(v_pu, va_deg, copies)`` with the terminal
   voltage of every device (a copy whose power flow failed keeps its last voltage, as
   the single env's device state does), then ``cost_safety()``;
5. observations: ``observe()``, each device's ``[N, k]`` slice placed where the single
   env puts that device's ``upper_level`` block.

``copies`` is a boolean ``[N]`` mask: only those rows may change (the others are being
reset, or are not stepping this call). Arrays are float64, copy axis first, then the
devices in the order given to ``__init__``. Every returned array is shape-checked by the
env; a wrong shape raises :class:`ArrayDevicesError` naming the device class and method.

The maths themselves belong in one place: write them as broadcasting functions (as
:mod:`powergrid.physics` does) and call them from both the scalar methods and these,
so the single env and the vector env cannot drift apart.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ArrayDevices", "ArrayDevicesError", "array_devices_of", "has_taps"]


class ArrayDevicesError(ValueError):
    """An ``ArrayDevices`` implementation returned something the vector env cannot use."""


class ArrayDevices(ABC):
    """All instances of one device class across microgrids, for N copies (module doc).

    Subclass it, implement the abstract methods, and name the subclass in the device
    class's ``array_devices`` attribute. The vector env builds one instance per device
    class (per action size and observation size, if those depend on the config).

    Attributes available to subclasses: ``num_envs`` (N), ``size`` (D), ``dt`` (hours
    per step) and ``available`` (``[N, D]`` MW, set by :meth:`set_available`).
    """

    def __init__(self, devices: Sequence[Any], num_envs: int, dt: float) -> None:
        """Read the parameters of ``devices`` (the template env's instances, one per
        microgrid position) into ``[D]`` arrays; allocate state as ``[N, D]`` arrays.

        Do not keep or change ``devices``: they belong to the vector env's template.
        Subclasses call ``super().__init__(devices, num_envs, dt)`` first.
        """
        self.num_envs = int(num_envs)
        self.size = len(devices)
        self.dt = float(dt)
        self.available = np.zeros((self.num_envs, self.size))

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def config_array(devices: Sequence[Any], name: str) -> np.ndarray:
        """``[D]`` float64 array of ``device.config.<name>`` (e.g. ``"p_rated_MW"``)."""
        return np.array([float(getattr(d.config, name)) for d in devices], dtype=np.float64)

    # -- the contract ---------------------------------------------------------------------
    @abstractmethod
    def reset(self, copies: np.ndarray) -> None:
        """Put the rows ``copies`` ([N] bool) in the state a fresh ``DeviceAgent.reset()``
        leaves a device in (setpoints, internal state such as a state of charge)."""

    def set_available(self, available: np.ndarray) -> None:
        """This hour's available power, ``[N, D]`` MW, every copy (renewables only:
        the single env sets ``available_power`` on devices that have that attribute).
        Default: stored as ``self.available``."""
        self.available = available

    @abstractmethod
    def apply_actions(self, actions: np.ndarray, copies: np.ndarray) -> None:
        """What ``set_device_action`` does, for ``actions`` ``[N, D, A]`` (each device's
        share of its microgrid's action, already clipped to its action space). Change
        only the rows ``copies``, e.g. ``self.p[copies] = p[copies]``."""

    @abstractmethod
    def injection(self) -> tuple[np.ndarray, np.ndarray]:
        """``(p, q)``, each ``[N, D]``, MW / MVAr, generator convention (positive = into
        the grid), as ``DeviceAgent.injection()``; the env applies the table's sign."""

    def update_state(self, v_pu: np.ndarray, va_deg: np.ndarray, copies: np.ndarray) -> None:
        """After the power flow: terminal voltage ``[N, D]`` (pu, degrees; kept from the
        last converged flow), then what ``update_state()`` does (e.g. move a state of
        charge) for the rows ``copies``. Default: nothing (as ``DeviceAgent``); a
        device that observes its voltage stores it here."""

    @abstractmethod
    def cost_safety(self) -> tuple[np.ndarray, np.ndarray]:
        """``(cost, safety)``, each ``[N, D]``: what ``update_cost_safety()`` leaves in
        ``device.cost`` / ``device.safety``, from the current state (no state change)."""

    @abstractmethod
    def observe(self) -> np.ndarray:
        """``[N, D, k]``: each device's ``state.to_array("upper_level")`` (the same
        entries, in the same order, as the single env's observation of the device)."""


    def taps(self) -> np.ndarray:
        """``[N, D]`` tap positions, for tap changers (``pp_element = "trafo"``) only."""
        raise NotImplementedError(f"{type(self).__qualname__} has no taps().")


def has_taps(maths: type[ArrayDevices]) -> bool:
    """Whether ``maths`` implements :meth:`ArrayDevices.taps` (can drive a tap changer)."""
    return maths.taps is not ArrayDevices.taps


def array_devices_of(cls: type) -> type[ArrayDevices] | None:
    """The ``ArrayDevices`` subclass that ``cls`` itself declares (not inherits), or None.

    Raises TypeError if ``cls.array_devices`` is set to something that is not one.
    """
    maths = cls.__dict__.get("array_devices")
    if maths is None:
        return None
    if not (isinstance(maths, type) and issubclass(maths, ArrayDevices)):
        raise TypeError(f"{cls.__module__}.{cls.__qualname__}.array_devices must be a subclass "
                        f"of powergrid.envs.array_devices.ArrayDevices, got {maths!r}.")
    return maths

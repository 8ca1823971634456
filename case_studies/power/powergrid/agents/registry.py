"""Device type registry: the names that ``config.yml`` may use in ``type:``."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from powergrid.agents.generator import Generator
from powergrid.agents.renewables import PV, WindTurbine
from powergrid.agents.storage import ESS
from powergrid.agents.transformer import Transformer

__all__ = ["DEVICE_REGISTRY", "DeviceRegistry", "DeviceRegistryWarning", "get_device_class"]


class DeviceRegistryWarning(UserWarning):
    """A device type name was registered again with a different class."""


def _qualname(cls: Any) -> str:
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", None) or repr(cls)
    return f"{module}.{name}" if module else name


class DeviceRegistry(dict):
    """``{type name: device class}`` that warns when a name is given to another class.

    The user guide registers custom devices with ``DEVICE_REGISTRY['WindTurbine'] =
    WindTurbine``; with a name that is already taken that silently swaps the class
    every config using ``type: WindTurbine`` builds (here: the built-in one, which
    validates its config and has a reactive-power option). A warning naming both
    classes makes the swap visible; registering the same class again stays silent.
    """

    def __setitem__(self, name: str, cls: type) -> None:
        old = self.get(name)
        if old is not None and old is not cls:
            same_name = _qualname(old) == _qualname(cls)
            warnings.warn(
                f"DEVICE_REGISTRY[{name!r}]: replacing {_qualname(old)} with {_qualname(cls)}"
                + (" (another class object of the same name, e.g. from re-running the "
                   "code that defines it)" if same_name else "")
                + f". Every config with type: {name} now builds the new class in this "
                f"process. To keep both, register it under a name of its own, e.g. "
                f"DEVICE_REGISTRY['My{name}'] = {getattr(cls, '__name__', 'cls')}.",
                DeviceRegistryWarning,
                stacklevel=2,
            )
        super().__setitem__(name, cls)

    def update(self, other: Mapping[str, type] | Iterable[tuple[str, type]] = (),
               /, **kwargs: type) -> None:
        """Like ``dict.update``, but through :meth:`__setitem__` (so it warns too)."""
        items = other.items() if isinstance(other, Mapping) else other
        for name, cls in list(items) + list(kwargs.items()):
            self[name] = cls


DEVICE_REGISTRY: DeviceRegistry = DeviceRegistry({
    "Generator": Generator,
    "ESS": ESS,
    "Transformer": Transformer,
    "WindTurbine": WindTurbine,
    "PV": PV,
})


def get_device_class(type_name: str) -> type:
    try:
        return DEVICE_REGISTRY[type_name]
    except KeyError:
        raise ValueError(
            f"Unknown device type {type_name!r}. Known types: {sorted(DEVICE_REGISTRY)}. "
            "Register custom devices with DEVICE_REGISTRY['MyType'] = MyDevice."
        ) from None

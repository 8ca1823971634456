"""Device type registry: the names that ``config.yml`` may use in ``type:``."""

from __future__ import annotations

from powergrid.agents.generator import Generator
from powergrid.agents.renewables import PV, WindTurbine
from powergrid.agents.storage import ESS
from powergrid.agents.transformer import Transformer

DEVICE_REGISTRY: dict[str, type] = {
    "Generator": Generator,
    "ESS": ESS,
    "Transformer": Transformer,
    "WindTurbine": WindTurbine,
    "PV": PV,
}


def get_device_class(type_name: str) -> type:
    try:
        return DEVICE_REGISTRY[type_name]
    except KeyError:
        raise ValueError(
            f"Unknown device type {type_name!r}. Known types: {sorted(DEVICE_REGISTRY)}. "
            "Register custom devices with DEVICE_REGISTRY['MyType'] = MyDevice."
        ) from None

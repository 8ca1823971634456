"""Power-grid agents: devices, the grid coordinator base and the device registry.

``PowerGridAgent`` (the pandapower-backed ``GridAgent``) and the DSO's
``GridSystemAgent`` live in :mod:`powergrid.agents.power_grid_agent`.
"""

from powergrid.agents.device_agent import (
    Capabilities,
    ConfigError,
    DeviceAgent,
    DeviceLimits,
    Setpoint,
    capabilities_of,
)
from powergrid.agents.generator import Generator, GeneratorConfig
from powergrid.agents.grid_agent import GridAgent
from powergrid.agents.registry import (
    DEVICE_REGISTRY,
    DeviceRegistry,
    DeviceRegistryWarning,
    get_device_class,
)
from powergrid.agents.renewables import PV, WindTurbine
from powergrid.agents.storage import ESS, StorageConfig
from powergrid.agents.transformer import Transformer

__all__ = [
    "Capabilities",
    "ConfigError",
    "DeviceAgent",
    "DeviceLimits",
    "Setpoint",
    "capabilities_of",
    "Generator",
    "GeneratorConfig",
    "GridAgent",
    "ESS",
    "StorageConfig",
    "Transformer",
    "WindTurbine",
    "PV",
    "DEVICE_REGISTRY",
    "DeviceRegistry",
    "DeviceRegistryWarning",
    "get_device_class",
]

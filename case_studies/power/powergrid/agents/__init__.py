"""Power-grid agents: devices, the microgrid coordinator and the DSO system agent."""

from powergrid.agents.device_agent import ConfigError, DeviceAgent
from powergrid.agents.generator import Generator, GeneratorConfig
from powergrid.agents.registry import DEVICE_REGISTRY, get_device_class
from powergrid.agents.renewables import PV, WindTurbine
from powergrid.agents.storage import ESS, StorageConfig
from powergrid.agents.transformer import Transformer

__all__ = [
    "ConfigError",
    "DeviceAgent",
    "Generator",
    "GeneratorConfig",
    "ESS",
    "StorageConfig",
    "Transformer",
    "WindTurbine",
    "PV",
    "DEVICE_REGISTRY",
    "get_device_class",
]

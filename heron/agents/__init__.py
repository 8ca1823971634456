"""Agents at three levels: field (devices), coordinator (e.g. microgrids), system."""

from heron.agents.base import COORDINATOR_LEVEL, FIELD_LEVEL, SYSTEM_LEVEL, Agent
from heron.agents.coordinator_agent import CoordinatorAgent
from heron.agents.field_agent import FieldAgent
from heron.agents.proxy_agent import ProxyAgent
from heron.agents.system_agent import SystemAgent

__all__ = [
    "Agent",
    "FieldAgent",
    "CoordinatorAgent",
    "SystemAgent",
    "ProxyAgent",
    "FIELD_LEVEL",
    "COORDINATOR_LEVEL",
    "SYSTEM_LEVEL",
]

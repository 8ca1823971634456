"""The system agent sits at the top (e.g. a DSO) and coordinates coordinators."""

from __future__ import annotations

from heron.agents.base import SYSTEM_LEVEL
from heron.agents.coordinator_agent import CoordinatorAgent


class SystemAgent(CoordinatorAgent):
    level = SYSTEM_LEVEL

    @property
    def coordinators(self):
        return self.subordinate_agents

"""Protocol interface.

Vertical protocols (coordinator -> subordinates) implement ``coordinate``.
Horizontal protocols (peer <-> peer, e.g. trading) implement ``exchange`` as well.
"""

from __future__ import annotations

from typing import Any


class Protocol:
    name: str = "protocol"

    def coordinate(self, coordinator_action: Any, subordinates: dict[str, Any]) -> dict[str, Any]:
        """Map the coordinator's action to one action per subordinate id."""
        raise NotImplementedError(f"{type(self).__name__}.coordinate is not implemented.")

    def reset(self) -> None:
        """Clear protocol memory between episodes."""

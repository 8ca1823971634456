"""Protocol interface: two kinds, each with its own entry point.

* **Vertical** (coordinator -> subordinates), :class:`VerticalProtocol`:
  ``coordinate(coordinator_action, subordinates) -> {subordinate id: action}``.
  This is what a :class:`~heron.agents.coordinator_agent.CoordinatorAgent` calls.
* **Horizontal** (peer <-> peer: trading, agreeing), :class:`HorizontalProtocol`:
  ``exchange(...)``, whose arguments are the mechanism's (orders for a market,
  values and a communication graph for consensus). A horizontal protocol has no
  coordinator action to split; its ``coordinate`` raises and says to call
  ``exchange``.

Every protocol says which kind it is in the class attribute ``kind``
(:data:`VERTICAL` or :data:`HORIZONTAL`), and the registry
(:mod:`heron.protocols.registry`) uses it to list and build protocols of one kind.
A class that subclasses :class:`Protocol` directly and implements ``coordinate``
(as the user guide's examples do) is vertical: ``kind`` defaults to
:data:`VERTICAL`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

#: ``Protocol.kind`` of a protocol that splits a coordinator's action (``coordinate``)
VERTICAL = "vertical"
#: ``Protocol.kind`` of a protocol between peers (``exchange``)
HORIZONTAL = "horizontal"
#: every valid ``Protocol.kind``
PROTOCOL_KINDS: tuple[str, ...] = (VERTICAL, HORIZONTAL)


class Protocol:
    """What every protocol has: a registry ``name``, a ``kind`` and ``reset``."""

    name: str = "protocol"
    #: :data:`VERTICAL` (the default: implement ``coordinate``) or :data:`HORIZONTAL`
    kind: ClassVar[str] = VERTICAL

    def reset(self) -> None:
        """Clear protocol memory between episodes."""


class VerticalProtocol(Protocol, ABC):
    """Coordinator -> subordinates: split one decision into one action per subordinate."""

    kind: ClassVar[str] = VERTICAL

    @abstractmethod
    def coordinate(self, coordinator_action: Any, subordinates: dict[str, Any]) -> dict[str, Any]:
        """Map the coordinator's action to one action per subordinate id."""


def _call_form(method: Any) -> str:
    """``exchange(orders)``: the method's name and parameters (without ``self``)."""
    params = list(inspect.signature(method).parameters.values())[1:]
    parts = []
    for p in params:
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        parts.append(prefix + p.name)
    return f"{method.__name__}({', '.join(parts)})"


class HorizontalProtocol(Protocol, ABC):
    """Peer <-> peer: agents trade or agree with each other through ``exchange``."""

    kind: ClassVar[str] = HORIZONTAL

    @abstractmethod
    def exchange(self, *args: Any, **kwargs: Any) -> Any:
        """The horizontal entry point; arguments and result are the mechanism's."""

    def coordinate(self, coordinator_action: Any, subordinates: dict[str, Any]) -> dict[str, Any]:
        """Not available: a horizontal protocol has no coordinator action to split."""
        cls = type(self).__name__
        raise NotImplementedError(
            f"{cls} is a horizontal (peer-to-peer) protocol and does not split a "
            f"coordinator's action, so it has no coordinate(); call "
            f"{cls}.{_call_form(type(self).exchange)} instead."
        )

"""Coordination protocols.

Vertical protocols (:class:`VerticalProtocol`, ``kind == "vertical"``) turn a
coordinator's decision into subordinates' actions (``coordinate``); horizontal
protocols (:class:`HorizontalProtocol`, ``kind == "horizontal"``) let peers trade or
agree (``exchange``). The registry lists and builds them by name and kind.
"""

from heron.protocols.base import (
    HORIZONTAL,
    PROTOCOL_KINDS,
    VERTICAL,
    HorizontalProtocol,
    Protocol,
    VerticalProtocol,
)
from heron.protocols.horizontal import (
    ClearingResult,
    ConsensusProtocol,
    ConsensusResult,
    Order,
    P2PTradingProtocol,
    Trade,
    orders_from_actions,
    settlement,
)
from heron.protocols.registry import (
    PROTOCOL_REGISTRY,
    make_protocol,
    protocol_names,
    register_protocol,
)
from heron.protocols.vertical import PriceSignalProtocol, SetpointProtocol

__all__ = [
    "Protocol",
    "VerticalProtocol",
    "HorizontalProtocol",
    "VERTICAL",
    "HORIZONTAL",
    "PROTOCOL_KINDS",
    "SetpointProtocol",
    "PriceSignalProtocol",
    "P2PTradingProtocol",
    "ConsensusProtocol",
    "Order",
    "Trade",
    "ClearingResult",
    "ConsensusResult",
    "orders_from_actions",
    "settlement",
    "PROTOCOL_REGISTRY",
    "make_protocol",
    "protocol_names",
    "register_protocol",
]

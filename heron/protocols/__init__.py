"""Coordination protocols.

Vertical protocols turn a coordinator's decision into subordinates' actions
(``coordinate``); horizontal protocols let peers trade or agree (``exchange``).
"""

from heron.protocols.base import Protocol
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
from heron.protocols.registry import PROTOCOL_REGISTRY, make_protocol, register_protocol
from heron.protocols.vertical import PriceSignalProtocol, SetpointProtocol

__all__ = [
    "Protocol",
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
    "register_protocol",
]

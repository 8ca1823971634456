"""Coordination protocols: how a coordinator turns its decision into subordinates' actions."""

from heron.protocols.base import Protocol
from heron.protocols.vertical import PriceSignalProtocol, SetpointProtocol

__all__ = ["Protocol", "SetpointProtocol", "PriceSignalProtocol"]

"""Peer-to-peer energy market between microgrids."""

from powergrid.market.p2p import P2PMarket

__all__ = ["P2PMarket"]

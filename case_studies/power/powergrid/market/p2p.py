"""P2P energy trading between microgrids, settled after each power flow.

Mechanism (``protocol: p2p``)
-----------------------------
1. Each microgrid's RL action has one extra entry, its *price action* in [-1, 1].
2. After the power flow, a microgrid with a net export at its PCC offers that
   surplus; one with a net import bids for its deficit. The price action maps
   linearly onto ``[export price, import price]`` of this hour (the DSO's feed-in
   and retail prices), so no microgrid ever bids above what the DSO charges or asks
   below what the DSO pays: every trade is at least as good as the DSO for both.
3. :class:`heron.protocols.horizontal.P2PTradingProtocol` clears the book as a
   uniform-price double auction (k = 0.5: the clearing price is the midpoint of the
   last matched bid and ask).
4. Settlement: the buyer pays, the seller earns ``quantity x clearing price``;
   whatever is not traded is imported from / exported to the DSO at the grid price.
   Payments inside the market sum to zero.

Physics: trades are financial re-allocations of energy that the power flow has
already delivered through the DSO feeder (quantities never exceed a microgrid's
measured PCC exchange, so every traded MWh physically flowed). Feeder losses
between sellers and buyers stay with the DSO, as in retail net metering; they are
out of scope of the P2P settlement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heron.protocols.horizontal import (
    ClearingResult,
    P2PTradingProtocol,
    allocation,
    orders_from_actions,
    settlement,
)
from powergrid.utils.cost import energy_cost


@dataclass
class SettlementResult:
    clearing: ClearingResult
    payments: dict[str, float] = field(default_factory=dict)   # P2P, positive = pays
    bought: dict[str, float] = field(default_factory=dict)     # MWh, negative = sold
    cost_change: dict[str, float] = field(default_factory=dict)


class P2PMarket:
    def __init__(self, clearing: str = "uniform", min_quantity_MW: float = 1e-6) -> None:
        self.protocol = P2PTradingProtocol(clearing=clearing)
        self.min_quantity = min_quantity_MW

    def settle(self, imports_MW: dict[str, float], price_actions: dict[str, Any],
               price: float, sell_price_ratio: dict[str, float], dt: float = 1.0
               ) -> SettlementResult:
        """Clear one hour and return each microgrid's change of energy cost."""
        export_price = price * min(sell_price_ratio.values()) if sell_price_ratio else price
        if not price > export_price:
            # no spread between retail and feed-in price (e.g. sell_price_ratio 1): a trade
            # cannot make anyone better off than the DSO does, so the market stays closed
            return SettlementResult(clearing=ClearingResult(),
                                    cost_change={a: 0.0 for a in imports_MW})
        positions = {a: -imp for a, imp in imports_MW.items() if abs(imp) > self.min_quantity}
        actions = {a: price_actions[a] for a in positions}
        orders = orders_from_actions(positions, actions, price_range=(export_price, price))
        result = self.protocol.clear(orders)
        payments = settlement(result)
        bought = allocation(result)
        out = SettlementResult(clearing=result, payments=payments, bought=bought)
        for a, imp in imports_MW.items():
            q = bought.get(a, 0.0) * dt  # energy bought (+) or sold (-) in the market
            before = energy_cost(imp, price, dt, sell_price_ratio[a])
            after = energy_cost(imp - q / dt, price, dt, sell_price_ratio[a]) + payments.get(a, 0.0) * dt
            out.cost_change[a] = after - before
        return out

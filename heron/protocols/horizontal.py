"""Horizontal protocols: peers coordinate with each other, not through a superior.

Two mechanisms are provided, both domain-agnostic (numpy only):

* :class:`P2PTradingProtocol` -- a sealed-bid double auction. Agents with a surplus
  of some good sell it to agents with a deficit. In the power case study the good is
  energy and the agents are microgrids, but nothing here knows that.
* :class:`ConsensusProtocol` -- distributed averaging. Each agent repeatedly
  replaces its value by a weighted average of its own and its neighbours' values,
  which is how peers agree on a shared quantity (a price, a setpoint, an estimate)
  without a coordinator.

Both are :class:`~heron.protocols.base.HorizontalProtocol` (``kind ==
"horizontal"``): ``exchange`` is their entry point (the same as ``clear`` / ``run``),
and ``coordinate``, the vertical entry point, raises and says to call ``exchange``.

Why bad input is *rejected* rather than *raised* in the market: orders are usually
produced by a learning policy, and one nonsensical order (NaN price, negative
quantity) must not abort an episode for every other agent. The bad order is dropped
with a reason the caller can log or penalise. Programming errors that are not about
one agent's order (an unknown clearing rule, a missing price for a position) do
raise, because no sensible market outcome exists for them.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from heron.protocols.base import HorizontalProtocol

Side = Literal["buy", "sell"]
BUY: Side = "buy"
SELL: Side = "sell"
CLEARING_RULES = ("uniform", "midpoint", "pay_as_bid")


# ---------------------------------------------------------------------------------
# P2P market data types
# ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Order:
    """A limit order: ``agent_id`` wants to ``side`` up to ``quantity`` at ``price``.

    For a buy, ``price`` is the most the agent will pay per unit; for a sell, the
    least it will accept. No validation happens here on purpose: an invalid order
    must reach :meth:`P2PTradingProtocol.clear` so that it is rejected *with a
    reason* instead of raising in whichever code built it.
    """

    agent_id: str
    side: str
    quantity: float
    price: float


@dataclass(frozen=True)
class Trade:
    """``quantity`` units move from ``seller`` to ``buyer``; the buyer pays ``price`` per unit."""

    buyer: str
    seller: str
    quantity: float
    price: float

    @property
    def value(self) -> float:
        """Money that changes hands: ``quantity * price``."""
        return self.quantity * self.price


@dataclass
class ClearingResult:
    """Outcome of one market round.

    Attributes:
        trades: matched trades, in matching order (most competitive pairs first).
        clearing_price: the uniform price for ``clearing="uniform"``; for the
            discriminatory rules the volume-weighted average trade price; ``None``
            when nothing traded.
        rejected: ``(order, reason)`` for each order excluded before matching; the
            order object is the one submitted, unchanged.
        unmatched: for every agent with at least one accepted order, the quantity
            it wanted to trade but did not (``>= 0``; ``0.0`` when fully filled).
            Agents whose orders were all rejected do not appear.
    """

    trades: list[Trade] = field(default_factory=list)
    clearing_price: float | None = None
    rejected: list[tuple[Any, str]] = field(default_factory=list)
    unmatched: dict[str, float] = field(default_factory=dict)

    @property
    def volume(self) -> float:
        """Total quantity traded (bought == sold, since every trade has both sides)."""
        return math.fsum(t.quantity for t in self.trades)


# ---------------------------------------------------------------------------------
# Settlement helpers
# ---------------------------------------------------------------------------------
def settlement(result: ClearingResult) -> dict[str, float]:
    """Money each trading agent pays (positive) or receives (negative).

    Every trade's value ``q * p`` is computed once and debited to the buyer and
    credited to the seller, so money is conserved inside the market: the sum over
    agents is zero in exact arithmetic, and in floating point within a few ulps of
    the largest payment (per-agent sums use ``math.fsum``), i.e. ``|sum| <= 1e-9``
    relative to the traded value. Agents without trades are absent.
    """
    ledger: dict[str, list[float]] = {}
    for t in result.trades:
        v = t.quantity * t.price
        ledger.setdefault(t.buyer, []).append(v)
        ledger.setdefault(t.seller, []).append(-v)
    return {agent: math.fsum(items) for agent, items in ledger.items()}


def allocation(result: ClearingResult) -> dict[str, float]:
    """Net quantity each trading agent receives: positive bought, negative sold.

    Energy (or whatever good) is conserved: the values sum to zero up to rounding,
    because each trade adds ``q`` to its buyer and subtracts the same ``q`` from its
    seller.
    """
    ledger: dict[str, list[float]] = {}
    for t in result.trades:
        ledger.setdefault(t.buyer, []).append(t.quantity)
        ledger.setdefault(t.seller, []).append(-t.quantity)
    return {agent: math.fsum(items) for agent, items in ledger.items()}


def _scalar(x: Any) -> float | None:
    """``x`` as a Python float, or ``None`` if it is not a single real number."""
    if isinstance(x, (bool, np.bool_, str, bytes)):
        return None
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.size != 1:
        return None
    return float(arr.reshape(-1)[0])


def orders_from_actions(
    net_positions: Mapping[str, float],
    price_actions: Mapping[str, Any],
    price_range: tuple[float, float] = (0.0, 1.0),
) -> list[Order]:
    """Turn each agent's position and normalised price action into a limit order.

    Why: a policy naturally outputs a bounded action in ``[-1, 1]``, while the
    quantity to trade is usually not a choice but a consequence of the physics
    (what is left after local generation and load). This helper combines both.

    * ``net_positions[a] > 0`` is a surplus -> a **sell** order of that quantity;
      ``< 0`` is a deficit -> a **buy** order of ``-net``; ``0`` -> no order.
    * ``price_actions[a]`` (a scalar or a size-1 array) is clipped to ``[-1, 1]``
      and mapped linearly to the limit price ``lo + (a + 1) / 2 * (hi - lo)``, the
      same mapping for buyers and sellers (``-1`` -> ``lo``, ``+1`` -> ``hi``).
    * A NaN/inf action is *not* raised here: it produces an order with a NaN/inf
      price (or is passed through unclipped), which :meth:`P2PTradingProtocol.clear`
      rejects with a reason, so one diverged policy cannot crash the round.

    Orders are returned in ``net_positions`` order, which fixes the submission
    order used for tie-breaking.

    Raises:
        ValueError: ``price_range`` is not finite with ``lo < hi``; an agent with a
            non-zero position has no price action; or ``price_actions`` names an
            agent absent from ``net_positions`` (almost always a typo that would
            otherwise silently keep that agent out of the market).
    """
    lo, hi = (float(v) for v in price_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"orders_from_actions: price_range must be finite with lo < hi, got {price_range!r}.")
    extra = [a for a in price_actions if a not in net_positions]
    if extra:
        raise ValueError(
            f"orders_from_actions: price actions for agent(s) without a net position: {extra}."
        )
    orders: list[Order] = []
    missing: list[str] = []
    for agent_id, net in net_positions.items():
        q = _scalar(net)
        if q is None:
            raise ValueError(f"orders_from_actions: net position of {agent_id!r} is not a number: {net!r}.")
        if q == 0.0:
            continue
        if agent_id not in price_actions:
            missing.append(agent_id)
            continue
        a = _scalar(price_actions[agent_id])
        if a is None:
            raise ValueError(
                f"orders_from_actions: price action of {agent_id!r} must be one number, "
                f"got {price_actions[agent_id]!r}."
            )
        if math.isfinite(a):
            a = min(max(a, -1.0), 1.0)
        price = lo + (a + 1.0) / 2.0 * (hi - lo) if not math.isnan(a) else math.nan
        if math.isnan(q):
            orders.append(Order(agent_id, SELL, q, price))  # rejected by clear(): NaN quantity
        else:
            orders.append(Order(agent_id, SELL if q > 0 else BUY, abs(q), price))
    if missing:
        raise ValueError(
            f"orders_from_actions: no price action for agent(s) with a non-zero position: {missing}."
        )
    return orders


# ---------------------------------------------------------------------------------
# P2P trading protocol
# ---------------------------------------------------------------------------------
@dataclass
class _Live:
    """An accepted order during matching (index = submission position)."""

    index: int
    agent_id: str
    price: float
    remaining: float


class P2PTradingProtocol(HorizontalProtocol):
    """Peer-to-peer double auction with deterministic matching.

    **Matching.** Valid buy orders are sorted by price descending, valid sell orders
    by price ascending. Equal prices are broken by ``agent_id`` (ascending string
    order) and then by submission order (position in the list given to
    :meth:`clear`), so the same book always clears the same way -- required for
    reproducible RL. (This favours lexicographically small ids among exact ties;
    shuffle ids upstream if that matters.) The best remaining buy is matched with
    the best remaining sell while ``buy.price >= sell.price``; each match trades
    ``min(remaining buy, remaining sell)``, so the marginal order may be partially
    filled and the rest of the book is untouched. Matching stops at the first
    non-crossing pair or when one side is exhausted.

    **Pricing** (``clearing``):

    * ``"uniform"`` (default) -- a k = 0.5 double auction: the clearing price is
      ``(b* + s*) / 2`` where ``b*`` and ``s*`` are the limit prices of the *last*
      matched buy and sell. Every trade is at that one price. Because buys are
      sorted descending and sells ascending, every matched buyer's limit is
      ``>= b* >=`` the price and every matched seller's limit ``<= s* <=`` the
      price, so nobody trades at a loss against its own limit.
    * ``"midpoint"`` -- discriminatory: each trade at the midpoint of *its own*
      buy and sell limit prices.
    * ``"pay_as_bid"`` -- discriminatory: each trade at the seller's ask, as in a
      pay-as-bid electricity auction where suppliers are paid their own offers
      (the buyer keeps the surplus ``bid - ask``).

    For the discriminatory rules ``ClearingResult.clearing_price`` is the
    volume-weighted average trade price.

    **Rejection.** An order is excluded, with a reason in
    ``ClearingResult.rejected``, if it: is not an :class:`Order`; has an empty or
    non-string ``agent_id``; has a side other than ``"buy"``/``"sell"``; has a
    quantity that is not a finite number, is ``<= 0``, or exceeds ``max_quantity``;
    has a price that is not a finite number or lies outside
    ``[price_floor, price_cap]``; or has a non-finite value ``quantity * price``.
    Checks run in that order and the first failure is the reason. Then, among the
    orders that passed, an agent with both buy and sell orders in one round has
    *all* its orders rejected: the market cannot know which it meant, and trading
    with oneself would only move money in a circle.

    An agent may submit several orders on one side (a stepwise bid curve).
    """

    name = "p2p"

    def __init__(
        self,
        clearing: str = "uniform",
        price_floor: float = -math.inf,
        price_cap: float = math.inf,
        max_quantity: float = math.inf,
    ) -> None:
        if clearing not in CLEARING_RULES:
            raise ValueError(
                f"P2PTradingProtocol: unknown clearing rule {clearing!r}; "
                f"valid: {', '.join(CLEARING_RULES)}."
            )
        floor, cap, qmax = float(price_floor), float(price_cap), float(max_quantity)
        if math.isnan(floor) or math.isnan(cap) or floor > cap:
            raise ValueError(
                f"P2PTradingProtocol: need price_floor <= price_cap, got {price_floor!r}, {price_cap!r}."
            )
        if math.isnan(qmax) or qmax <= 0:
            raise ValueError(f"P2PTradingProtocol: max_quantity must be > 0, got {max_quantity!r}.")
        self.clearing = clearing
        self.price_floor = floor
        self.price_cap = cap
        self.max_quantity = qmax
        self.last_result: ClearingResult | None = None

    # -- Protocol interface ---------------------------------------------------------
    def exchange(self, orders: Iterable[Any]) -> ClearingResult:
        """Horizontal entry point; identical to :meth:`clear`."""
        return self.clear(orders)

    def reset(self) -> None:
        self.last_result = None

    # -- market ---------------------------------------------------------------------
    def validate(self, order: Any) -> str | None:
        """Why ``order`` is invalid on its own, or ``None`` if it is acceptable."""
        if not isinstance(order, Order):
            return f"not an Order ({type(order).__name__})"
        if not isinstance(order.agent_id, str) or not order.agent_id:
            return f"invalid agent_id {order.agent_id!r} (need a non-empty string)"
        if not isinstance(order.side, str) or order.side not in (BUY, SELL):
            return f"unknown side {order.side!r} (expected 'buy' or 'sell')"
        q = _scalar(order.quantity)
        if q is None or not math.isfinite(q):
            return f"quantity is not a finite number ({order.quantity!r})"
        if q <= 0:
            return f"non-positive quantity ({q!r})"
        if q > self.max_quantity:
            return f"quantity {q!r} exceeds max_quantity {self.max_quantity!r}"
        p = _scalar(order.price)
        if p is None or not math.isfinite(p):
            return f"price is not a finite number ({order.price!r})"
        if not self.price_floor <= p <= self.price_cap:
            return f"price {p!r} outside [price_floor, price_cap] = [{self.price_floor!r}, {self.price_cap!r}]"
        if not math.isfinite(q * p):
            return f"order value quantity * price overflows ({q!r} * {p!r})"
        return None

    def clear(self, orders: Iterable[Any]) -> ClearingResult:
        """Clear one round of the double auction (rules in the class docstring).

        Never raises because of an order's content; see ``ClearingResult.rejected``.
        """
        rejected: list[tuple[Any, str]] = []
        valid: list[tuple[int, Order, float, float]] = []
        for index, order in enumerate(orders):
            reason = self.validate(order)
            if reason is not None:
                rejected.append((order, reason))
                continue
            q, p = _scalar(order.quantity), _scalar(order.price)
            assert q is not None and p is not None  # guaranteed by validate()
            valid.append((index, order, q, p))

        sides: dict[str, set[str]] = {}
        for _, order, _, _ in valid:
            sides.setdefault(order.agent_id, set()).add(order.side)
        both = {a for a, s in sides.items() if len(s) > 1}
        buys: list[_Live] = []
        sells: list[_Live] = []
        for index, order, q, p in valid:
            if order.agent_id in both:
                rejected.append((order, f"agent {order.agent_id!r} submitted both buy and sell orders in one round"))
                continue
            (buys if order.side == BUY else sells).append(_Live(index, order.agent_id, p, q))

        buys.sort(key=lambda o: (-o.price, o.agent_id, o.index))
        sells.sort(key=lambda o: (o.price, o.agent_id, o.index))

        matches: list[tuple[_Live, _Live, float]] = []
        i = j = 0
        while i < len(buys) and j < len(sells) and buys[i].price >= sells[j].price:
            b, s = buys[i], sells[j]
            q = min(b.remaining, s.remaining)
            matches.append((b, s, q))
            # x - x == 0 exactly, so the exhausted side reaches exactly zero.
            b.remaining -= q
            s.remaining -= q
            if b.remaining == 0.0:
                i += 1
            if s.remaining == 0.0:
                j += 1

        trades: list[Trade] = []
        clearing_price: float | None = None
        if matches:
            if self.clearing == "uniform":
                last_b, last_s, _ = matches[-1]
                clearing_price = _midpoint(last_b.price, last_s.price)
                trades = [Trade(b.agent_id, s.agent_id, q, clearing_price) for b, s, q in matches]
            else:
                for b, s, q in matches:
                    price = _midpoint(b.price, s.price) if self.clearing == "midpoint" else s.price
                    trades.append(Trade(b.agent_id, s.agent_id, q, price))
                vol = math.fsum(t.quantity for t in trades)
                clearing_price = math.fsum(t.quantity * t.price for t in trades) / vol
                # Keep the average inside the traded range despite rounding.
                clearing_price = min(max(clearing_price, min(t.price for t in trades)),
                                     max(t.price for t in trades))

        leftovers: dict[str, list[float]] = {}
        for o in sorted(buys + sells, key=lambda o: o.index):
            leftovers.setdefault(o.agent_id, []).append(o.remaining)
        unmatched = {a: math.fsum(r) for a, r in leftovers.items()}

        result = ClearingResult(trades=trades, clearing_price=clearing_price,
                                rejected=rejected, unmatched=unmatched)
        self.last_result = result
        return result


def _midpoint(a: float, b: float) -> float:
    """``(a + b) / 2`` without overflow for huge finite prices, kept within ``[min, max]``."""
    m = 0.5 * a + 0.5 * b
    return min(max(m, min(a, b)), max(a, b))


# ---------------------------------------------------------------------------------
# Consensus protocol
# ---------------------------------------------------------------------------------
@dataclass
class ConsensusResult:
    """Outcome of :meth:`ConsensusProtocol.run`.

    Attributes:
        values: final value per agent, with each input's type/shape (float in,
            float out; array in, array out).
        iterations: averaging steps performed.
        converged: ``True`` iff the disagreement fell to ``<= tol`` on a
            connected graph.
        history: disagreement (``max_i x_i - min_i x_i``, maximised over vector
            components) before the first step and after each step; length
            ``iterations + 1``.
        reason: why ``converged`` is ``False`` (``None`` when it is ``True``).
    """

    values: dict[str, Any]
    iterations: int
    converged: bool
    history: list[float] = field(default_factory=list)
    reason: str | None = None


def _undirected(
    ids: Sequence[str], neighbours: Mapping[str, Iterable[str]], symmetrize: bool
) -> dict[str, list[str]]:
    """Validated, symmetric, self-loop-free adjacency lists in ``ids`` order."""
    known = set(ids)
    unknown_keys = [a for a in neighbours if a not in known]
    if unknown_keys:
        raise ValueError(f"ConsensusProtocol: neighbours given for unknown agent(s) {unknown_keys}; "
                         f"agents with values: {list(ids)}.")
    adj: dict[str, set[str]] = {a: set() for a in ids}
    for a, nbrs in neighbours.items():
        if isinstance(nbrs, str):
            raise TypeError(f"ConsensusProtocol: neighbours[{a!r}] must be a list of ids, not a string.")
        bad = [n for n in nbrs if n not in known]
        if bad:
            raise ValueError(f"ConsensusProtocol: agent {a!r} lists unknown neighbour(s) {bad}.")
        adj[a].update(n for n in nbrs if n != a)  # a self-loop carries no information
    one_way = sorted((a, n) for a in ids for n in adj[a] if a not in adj[n])
    if one_way:
        if not symmetrize:
            raise ValueError(f"ConsensusProtocol: neighbour lists are not symmetric: {one_way} "
                             "(a lists b but b does not list a).")
        warnings.warn(f"ConsensusProtocol: neighbour lists are not symmetric; adding the reverse of "
                      f"{one_way} (communication is treated as two-way).", UserWarning, stacklevel=3)
        for a, n in one_way:
            adj[n].add(a)
    order = {a: k for k, a in enumerate(ids)}
    return {a: sorted(adj[a], key=order.__getitem__) for a in ids}


def _components(ids: Sequence[str], adj: Mapping[str, list[str]]) -> list[list[str]]:
    seen: set[str] = set()
    comps: list[list[str]] = []
    for start in ids:
        if start in seen:
            continue
        comp, queue = [], deque([start])
        seen.add(start)
        while queue:
            a = queue.popleft()
            comp.append(a)
            for n in adj[a]:
                if n not in seen:
                    seen.add(n)
                    queue.append(n)
        comps.append(comp)
    return comps


def metropolis_weights(ids: Sequence[str], neighbours: Mapping[str, Iterable[str]]) -> np.ndarray:
    """Metropolis-Hastings weight matrix for an undirected graph (rows/cols in ``ids`` order).

    ``W[i, j] = 1 / (1 + max(d_i, d_j))`` for each edge, ``W[i, i] = 1 - sum_j W[i, j]``.
    Why these weights: they need only neighbours' degrees (local information), are
    symmetric and doubly stochastic (so the average is preserved) and have a
    positive diagonal ``W[i, i] >= 1 / (1 + d_i)`` (so iteration is aperiodic and
    converges to the exact average on *any* connected graph, bipartite included).
    ``neighbours`` must already be symmetric.
    """
    index = {a: k for k, a in enumerate(ids)}
    deg = {a: len(set(neighbours.get(a, ()))) for a in ids}
    w = np.zeros((len(ids), len(ids)), dtype=np.float64)
    for a in ids:
        for n in set(neighbours.get(a, ())):
            w[index[a], index[n]] = 1.0 / (1.0 + max(deg[a], deg[n]))
    np.fill_diagonal(w, 0.0)
    np.fill_diagonal(w, 1.0 - w.sum(axis=1))
    return w


class ConsensusProtocol(HorizontalProtocol):
    """Distributed averaging ``x <- W x`` over a communication graph.

    ``weights="metropolis"`` (default) builds Metropolis-Hastings weights from the
    graph (see :func:`metropolis_weights`); every agent then converges to the exact
    average of the initial values on any connected undirected graph. Alternatively
    pass an ``(n, n)`` matrix whose rows/columns follow the order of the ``values``
    dict given to :meth:`run`; it must be finite and row-stochastic, and may be
    non-zero off the diagonal only between neighbours (an agent cannot average with
    someone it cannot hear). A row- but not column-stochastic matrix converges to a
    *weighted* average, not the mean.

    **Stopping.** Iteration stops once the disagreement ``max_i x_i - min_i x_i``
    (worst vector component) is ``<= tol``. With doubly stochastic weights the
    mean is invariant, so at that point every agent is within ``tol`` of the true
    average. At most ``max_iter`` steps are taken; hitting the cap gives
    ``converged=False`` with a reason.

    **Graph checks.** Unknown ids (as keys of ``neighbours`` or inside a list)
    raise ``ValueError``. Agents missing from ``neighbours`` have no links of their
    own. Self-loops and duplicates are ignored. Asymmetric lists (``a`` lists ``b``
    but ``b`` omits ``a``) are symmetrised with a ``UserWarning`` when
    ``symmetrize=True`` (default) -- an omitted back-link is nearly always an
    oversight, and averaging is only mean-preserving on undirected graphs -- or
    raise ``ValueError`` when ``symmetrize=False``. A disconnected graph cannot
    reach a global consensus: each component converges to its own average, which
    is still computed and returned, with ``converged=False`` and a reason naming the
    components (unless the values already agree within ``tol``).
    """

    name = "consensus"

    def __init__(self, weights: str | np.ndarray = "metropolis", tol: float = 1e-6,
                 max_iter: int = 1000, symmetrize: bool = True) -> None:
        if isinstance(weights, str):
            if weights != "metropolis":
                raise ValueError(f"ConsensusProtocol: weights must be 'metropolis' or a matrix, got {weights!r}.")
            self.weights: str | np.ndarray = weights
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.ndim != 2 or w.shape[0] != w.shape[1]:
                raise ValueError(f"ConsensusProtocol: weight matrix must be square, got shape {w.shape}.")
            if not np.all(np.isfinite(w)):
                raise ValueError("ConsensusProtocol: weight matrix contains NaN or inf.")
            if not np.allclose(w.sum(axis=1), 1.0, atol=1e-9):
                raise ValueError("ConsensusProtocol: weight matrix rows must sum to 1 (row-stochastic).")
            self.weights = w
        tol = float(tol)
        if not (math.isfinite(tol) and tol > 0):
            raise ValueError(f"ConsensusProtocol: tol must be a positive finite number, got {tol!r}.")
        if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 0:
            raise ValueError(f"ConsensusProtocol: max_iter must be a non-negative integer, got {max_iter!r}.")
        self.tol = tol
        self.max_iter = int(max_iter)
        self.symmetrize = symmetrize
        self.last_result: ConsensusResult | None = None

    def exchange(self, values: Mapping[str, Any], neighbours: Mapping[str, Iterable[str]]) -> ConsensusResult:
        """Horizontal entry point; identical to :meth:`run`."""
        return self.run(values, neighbours)

    def reset(self) -> None:
        self.last_result = None

    def run(self, values: Mapping[str, Any], neighbours: Mapping[str, Iterable[str]]) -> ConsensusResult:
        """Iterate ``x <- W x`` from ``values`` until agreement within ``tol`` or ``max_iter``.

        Raises:
            ValueError: values of different shapes or non-finite values; unknown
                neighbour ids; asymmetric lists with ``symmetrize=False``; a weight
                matrix of the wrong size or with weight on a non-edge.
        """
        ids = list(values)
        if not ids:
            result = ConsensusResult(values={}, iterations=0, converged=True, history=[])
            self.last_result = result
            return result
        arrays = {a: np.asarray(values[a], dtype=np.float64) for a in ids}
        shape = arrays[ids[0]].shape
        odd = [a for a in ids if arrays[a].shape != shape]
        if odd:
            raise ValueError(f"ConsensusProtocol: values must all have shape {shape}; "
                             f"different: {[(a, arrays[a].shape) for a in odd]}.")
        bad = [a for a in ids if not np.all(np.isfinite(arrays[a]))]
        if bad:
            raise ValueError(f"ConsensusProtocol: non-finite value(s) for {bad}.")
        scalar_in = {a: np.ndim(values[a]) == 0 and not isinstance(values[a], np.ndarray) for a in ids}

        adj = _undirected(ids, neighbours, self.symmetrize)
        w = self._weight_matrix(ids, adj)
        comps = _components(ids, adj)

        x = np.stack([arrays[a].reshape(-1) for a in ids]).reshape(len(ids), -1)
        history = [_spread(x)]
        it = 0
        while history[-1] > self.tol and it < self.max_iter:
            x = w @ x
            it += 1
            history.append(_spread(x))

        converged = history[-1] <= self.tol
        reason = None
        if len(comps) > 1 and not converged:
            reason = (f"graph is disconnected ({len(comps)} components: {comps}); "
                      "each component converged towards its own average at most")
        elif not converged:
            reason = (f"disagreement {history[-1]:.3g} > tol {self.tol:g} after "
                      f"max_iter={self.max_iter} iterations")
        out: dict[str, Any] = {}
        for k, a in enumerate(ids):
            v = x[k].reshape(shape)
            out[a] = float(v) if scalar_in[a] else v.copy()
        result = ConsensusResult(values=out, iterations=it, converged=converged,
                                 history=history, reason=reason)
        self.last_result = result
        return result

    def _weight_matrix(self, ids: Sequence[str], adj: Mapping[str, list[str]]) -> np.ndarray:
        if isinstance(self.weights, str):
            return metropolis_weights(ids, adj)
        w = self.weights
        n = len(ids)
        if w.shape != (n, n):
            raise ValueError(f"ConsensusProtocol: weight matrix is {w.shape} but there are {n} agents "
                             f"({list(ids)}); rows/columns follow the order of `values`.")
        allowed = np.eye(n, dtype=bool)
        index = {a: k for k, a in enumerate(ids)}
        for a, nbrs in adj.items():
            for nb in nbrs:
                allowed[index[a], index[nb]] = True
        off = [(ids[i], ids[j]) for i, j in zip(*np.nonzero((w != 0) & ~allowed), strict=True)]
        if off:
            raise ValueError(f"ConsensusProtocol: weight matrix puts weight on non-neighbour pair(s) {off}.")
        return w


def _spread(x: np.ndarray) -> float:
    """Largest disagreement between any two agents over all vector components."""
    if x.size == 0:
        return 0.0
    return float(np.max(x.max(axis=0) - x.min(axis=0)))

import math
import random
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heron.protocols import (
    PROTOCOL_REGISTRY,
    ClearingResult,
    ConsensusProtocol,
    Order,
    P2PTradingProtocol,
    PriceSignalProtocol,
    Protocol,
    SetpointProtocol,
    Trade,
    make_protocol,
    orders_from_actions,
    settlement,
)
from heron.protocols.horizontal import allocation, metropolis_weights
from heron.protocols.registry import register_protocol

B, S = "buy", "sell"


def conservation(result: ClearingResult) -> None:
    pay = settlement(result)
    gross = math.fsum(abs(t.quantity * t.price) for t in result.trades)
    assert abs(math.fsum(pay.values())) <= 1e-9 * max(1.0, gross)
    alloc = allocation(result)
    assert abs(math.fsum(alloc.values())) <= 1e-9 * max(1.0, result.volume)
    bought = math.fsum(q for q in alloc.values() if q > 0)
    sold = -math.fsum(q for q in alloc.values() if q < 0)
    assert bought == pytest.approx(sold, rel=1e-12, abs=1e-12)


# -- market clearing: edge cases ---------------------------------------------------
def test_empty_book():
    r = P2PTradingProtocol().clear([])
    assert r.trades == [] and r.clearing_price is None and r.rejected == [] and r.unmatched == {}
    assert settlement(r) == {}


def test_only_buyers_or_only_sellers():
    m = P2PTradingProtocol()
    for side in (B, S):
        r = m.clear([Order("a", side, 1.0, 5.0), Order("b", side, 2.0, 6.0)])
        assert r.trades == [] and r.clearing_price is None
        assert r.unmatched == {"a": 1.0, "b": 2.0}


def test_non_crossing_book_does_not_trade():
    r = P2PTradingProtocol().clear([Order("b", B, 1.0, 4.0), Order("s", S, 1.0, 5.0)])
    assert r.trades == [] and r.unmatched == {"b": 1.0, "s": 1.0}


def test_crossing_uniform_midpoint_of_last_matched_pair():
    orders = [
        Order("b1", B, 3.0, 10.0),
        Order("b2", B, 2.0, 8.0),
        Order("b3", B, 5.0, 3.0),  # does not cross any remaining sell
        Order("s1", S, 2.0, 2.0),
        Order("s2", S, 4.0, 6.0),
    ]
    r = P2PTradingProtocol().clear(orders)
    # b1 takes 2 from s1, then 1 from s2; b2 takes 2 from s2 (last pair: 8 vs 6).
    assert [(t.buyer, t.seller, t.quantity) for t in r.trades] == [
        ("b1", "s1", 2.0), ("b1", "s2", 1.0), ("b2", "s2", 2.0)]
    assert r.clearing_price == 7.0 and all(t.price == 7.0 for t in r.trades)
    assert r.unmatched == {"b1": 0.0, "b2": 0.0, "b3": 5.0, "s1": 0.0, "s2": 1.0}
    assert settlement(r) == {"b1": 21.0, "b2": 14.0, "s1": -14.0, "s2": -21.0}
    conservation(r)


def test_partial_fill_of_marginal_order():
    r = P2PTradingProtocol().clear([Order("b", B, 10.0, 5.0), Order("s", S, 4.0, 1.0)])
    assert r.trades == [Trade("b", "s", 4.0, 3.0)]
    assert r.unmatched == {"b": 6.0, "s": 0.0}
    assert r.volume == 4.0


def test_equal_prices_trade_at_that_price():
    r = P2PTradingProtocol().clear([Order("b", B, 1.0, 5.0), Order("s", S, 1.0, 5.0)])
    assert r.trades == [Trade("b", "s", 1.0, 5.0)] and r.clearing_price == 5.0


def test_ties_broken_by_agent_id_then_submission_order():
    orders = [
        Order("zed", B, 1.0, 5.0),
        Order("amy", B, 1.0, 5.0),
        Order("amy", B, 1.0, 5.0),  # same agent, same price: later submission
        Order("s2", S, 2.0, 1.0),
        Order("s1", S, 1.0, 1.0),
    ]
    r = P2PTradingProtocol().clear(orders)
    # Buys: amy(#1), amy(#2), zed; sells: s1, s2. Only 3 units are offered -> all fill.
    assert [(t.buyer, t.seller) for t in r.trades] == [("amy", "s1"), ("amy", "s2"), ("zed", "s2")]
    r2 = P2PTradingProtocol().clear(orders[:3] + [Order("s", S, 1.5, 1.0)])
    assert [(t.buyer, t.quantity) for t in r2.trades] == [("amy", 1.0), ("amy", 0.5)]
    assert r2.unmatched["zed"] == 1.0 and r2.unmatched["amy"] == 0.5


def test_discriminatory_rules():
    orders = [Order("b1", B, 1.0, 10.0), Order("b2", B, 1.0, 6.0),
              Order("s1", S, 1.0, 2.0), Order("s2", S, 1.0, 4.0)]
    mid = P2PTradingProtocol(clearing="midpoint").clear(orders)
    assert [t.price for t in mid.trades] == [6.0, 5.0] and mid.clearing_price == 5.5
    pab = P2PTradingProtocol(clearing="pay_as_bid").clear(orders)
    assert [t.price for t in pab.trades] == [2.0, 4.0] and pab.clearing_price == 3.0
    uni = P2PTradingProtocol(clearing="uniform").clear(orders)
    assert uni.clearing_price == 5.0
    for r in (mid, pab, uni):
        conservation(r)


def test_huge_prices_do_not_overflow_midpoint():
    r = P2PTradingProtocol().clear([Order("b", B, 1.0, 1e308), Order("s", S, 1.0, 9e307)])
    assert math.isfinite(r.clearing_price) and 9e307 <= r.clearing_price <= 1e308


# -- rejection ---------------------------------------------------------------------
@pytest.mark.parametrize("order, reason", [
    (Order("a", B, -1.0, 5.0), "non-positive quantity"),
    (Order("a", B, 0.0, 5.0), "non-positive quantity"),
    (Order("a", B, math.nan, 5.0), "quantity is not a finite number"),
    (Order("a", B, math.inf, 5.0), "quantity is not a finite number"),
    (Order("a", B, "lots", 5.0), "quantity is not a finite number"),
    (Order("a", B, 1.0, math.nan), "price is not a finite number"),
    (Order("a", S, 1.0, -math.inf), "price is not a finite number"),
    (Order("a", B, 1.0, [1.0, 2.0]), "price is not a finite number"),
    (Order("a", B, 1.0, 101.0), "outside [price_floor, price_cap]"),
    (Order("a", S, 1.0, -0.5), "outside [price_floor, price_cap]"),
    (Order("a", "hold", 1.0, 5.0), "unknown side 'hold'"),
    (Order("a", "BUY", 1.0, 5.0), "unknown side"),
    (Order("a", B, 11.0, 5.0), "exceeds max_quantity"),
    (Order("", B, 1.0, 5.0), "invalid agent_id"),
    (Order(7, B, 1.0, 5.0), "invalid agent_id"),
    (("a", B, 1.0, 5.0), "not an Order"),
    (None, "not an Order"),
])
def test_bad_orders_rejected_with_reason(order, reason):
    m = P2PTradingProtocol(price_floor=0.0, price_cap=100.0, max_quantity=10.0)
    good = [Order("g1", B, 1.0, 50.0), Order("g2", S, 1.0, 40.0)]
    r = m.clear([good[0], order, good[1]])
    assert len(r.rejected) == 1 and r.rejected[0][0] is order
    assert reason in r.rejected[0][1]
    assert r.trades == [Trade("g1", "g2", 1.0, 45.0)]  # the rest of the book still clears


def test_agent_on_both_sides_has_all_orders_rejected():
    orders = [Order("x", B, 1.0, 10.0), Order("x", S, 1.0, 1.0),
              Order("b", B, 1.0, 9.0), Order("s", S, 1.0, 2.0)]
    r = P2PTradingProtocol().clear(orders)
    assert [o for o, _ in r.rejected] == orders[:2]
    assert all("both buy and sell" in why for _, why in r.rejected)
    assert "x" not in r.unmatched and [(t.buyer, t.seller) for t in r.trades] == [("b", "s")]


def test_overflowing_order_value_rejected():
    r = P2PTradingProtocol().clear([Order("a", B, 1e300, 1e300)])
    assert "overflows" in r.rejected[0][1]


def test_constructor_validation():
    with pytest.raises(ValueError, match="unknown clearing rule 'vickrey'.*uniform"):
        P2PTradingProtocol(clearing="vickrey")
    with pytest.raises(ValueError, match="price_floor <= price_cap"):
        P2PTradingProtocol(price_floor=5, price_cap=1)
    with pytest.raises(ValueError, match="max_quantity"):
        P2PTradingProtocol(max_quantity=0)


def test_protocol_interface():
    m = P2PTradingProtocol()
    assert isinstance(m, Protocol) and m.name == "p2p"
    with pytest.raises(NotImplementedError, match=r"P2PTradingProtocol\.exchange\(orders\)"):
        m.coordinate([0.0], {})
    r = m.exchange([Order("b", B, 1.0, 2.0), Order("s", S, 1.0, 1.0)])
    assert m.last_result is r and r.volume == 1.0
    m.reset()
    assert m.last_result is None


# -- hypothesis: random books ------------------------------------------------------
AGENTS = [f"a{i}" for i in range(8)]
order_st = st.builds(
    Order,
    agent_id=st.sampled_from(AGENTS),
    side=st.sampled_from([B, S]),
    quantity=st.floats(0.001, 1e3),
    price=st.floats(0.0, 1e3),
)
fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.lists(order_st, max_size=30), st.sampled_from(["uniform", "midpoint", "pay_as_bid"]))
def test_random_books_conserve_money_and_energy(orders, clearing):
    m = P2PTradingProtocol(clearing=clearing, price_floor=0.0, price_cap=1e3)
    r = m.clear(orders)
    conservation(r)
    accepted = [o for o in orders if all(o is not ro for ro, _ in r.rejected)]
    # Every order is either rejected or accepted, and only for the both-sides reason.
    assert len(accepted) + len(r.rejected) == len(orders)
    assert all("both buy and sell" in why for _, why in r.rejected)
    # Filled + unmatched == submitted, per agent.
    alloc = allocation(r)
    for agent in {o.agent_id for o in accepted}:
        submitted = math.fsum(o.quantity for o in accepted if o.agent_id == agent)
        filled = abs(alloc.get(agent, 0.0))
        assert r.unmatched[agent] >= 0
        assert filled + r.unmatched[agent] == pytest.approx(submitted, rel=1e-9, abs=1e-9)
    for t in r.trades:
        assert t.quantity > 0 and t.buyer != t.seller
        # Individual rationality: nobody trades beyond its limit price.
        buy_limit = max(o.price for o in accepted if o.agent_id == t.buyer)
        sell_limit = min(o.price for o in accepted if o.agent_id == t.seller)
        assert sell_limit <= t.price <= buy_limit
    if clearing == "uniform" and r.trades:
        assert len({t.price for t in r.trades}) == 1


@fuzz
@given(st.lists(order_st, max_size=20), st.randoms(use_true_random=False))
def test_clearing_is_deterministic_and_order_invariant_per_agent(orders, rnd):
    m = P2PTradingProtocol()
    r1, r2 = m.clear(orders), m.clear(list(orders))
    assert r1.trades == r2.trades and r1.clearing_price == r2.clearing_price
    shuffled = list(orders)
    rnd.shuffle(shuffled)
    r3 = m.clear(shuffled)
    a1, a3 = allocation(r1), allocation(r3)
    assert a1.keys() == a3.keys()
    for k in a1:
        assert a1[k] == pytest.approx(a3[k], rel=1e-9, abs=1e-9)
    assert r1.clearing_price == r3.clearing_price


@fuzz
@given(st.lists(order_st, min_size=1, max_size=25))
def test_no_crossing_orders_remain_after_uniform_clearing(orders):
    m = P2PTradingProtocol()
    r = m.clear(orders)
    rejected = {id(o) for o, _ in r.rejected}
    accepted = [o for o in orders if id(o) not in rejected]
    # Re-clearing what is left (per order) must produce no further trades.
    remaining = []
    filled = {a: abs(q) for a, q in allocation(r).items()}
    for side, rev in ((B, True), (S, False)):
        book = sorted((o for o in accepted if o.side == side),
                      key=lambda o: ((-o.price if rev else o.price), o.agent_id))
        for o in book:
            take = min(filled.get(o.agent_id, 0.0), o.quantity)
            filled[o.agent_id] = filled.get(o.agent_id, 0.0) - take
            if o.quantity - take > 1e-9 * max(1.0, o.quantity):
                remaining.append(Order(o.agent_id, side, o.quantity - take, o.price))
    assert m.clear(remaining).trades == []


junk = st.one_of(st.none(), st.text(max_size=3), st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(-5, 5), st.lists(st.floats(), max_size=2), st.booleans(),
                 st.lists(st.floats(), max_size=3).map(np.array))


@fuzz
@given(st.lists(st.one_of(
    order_st,
    st.builds(Order, agent_id=st.one_of(st.sampled_from(AGENTS), junk), side=st.one_of(
        st.sampled_from([B, S]), junk), quantity=junk, price=junk),
    junk,
), max_size=25))
def test_garbage_never_crashes(orders):
    m = P2PTradingProtocol(price_floor=0.0, price_cap=1e3, max_quantity=500.0)
    r = m.clear(orders)
    assert all(isinstance(why, str) and why for _, why in r.rejected)
    assert len(r.rejected) <= len(orders)
    conservation(r)
    for t in r.trades:
        assert math.isfinite(t.price) and 0 < t.quantity <= 500.0


# -- orders_from_actions -----------------------------------------------------------
def test_orders_from_actions_maps_sign_and_price():
    orders = orders_from_actions({"s": 2.0, "b": -3.0, "idle": 0.0},
                                 {"s": -1.0, "b": np.array([1.0]), "idle": 0.3},
                                 price_range=(10.0, 30.0))
    assert orders == [Order("s", S, 2.0, 10.0), Order("b", B, 3.0, 30.0)]
    mid = orders_from_actions({"x": 1.0}, {"x": 0.0}, (10.0, 30.0))
    assert mid[0].price == 20.0
    clipped = orders_from_actions({"x": 1.0}, {"x": 5.0}, (10.0, 30.0))
    assert clipped[0].price == 30.0


def test_orders_from_actions_nan_goes_to_market_rejection():
    orders = orders_from_actions({"x": 1.0, "y": -1.0}, {"x": np.nan, "y": 0.0}, (0.0, 1.0))
    r = P2PTradingProtocol("uniform", 0.0, 1.0).clear(orders)
    assert "price is not a finite number" in r.rejected[0][1]


def test_orders_from_actions_errors():
    with pytest.raises(ValueError, match=r"no price action.*\['b'\]"):
        orders_from_actions({"a": 1.0, "b": -1.0}, {"a": 0.0})
    with pytest.raises(ValueError, match=r"without a net position.*\['zz'\]"):
        orders_from_actions({"a": 1.0}, {"a": 0.0, "zz": 0.0})
    with pytest.raises(ValueError, match="lo < hi"):
        orders_from_actions({"a": 1.0}, {"a": 0.0}, (5.0, 5.0))
    with pytest.raises(ValueError, match="one number"):
        orders_from_actions({"a": 1.0}, {"a": [0.0, 1.0]})


# -- consensus ---------------------------------------------------------------------
def ring(n):
    ids = [f"n{i}" for i in range(n)]
    return ids, {a: [ids[(i - 1) % n], ids[(i + 1) % n]] for i, a in enumerate(ids)}


def line(n):
    ids = [f"n{i}" for i in range(n)]
    return ids, {a: [ids[j] for j in (i - 1, i + 1) if 0 <= j < n] for i, a in enumerate(ids)}


def star(n):
    ids = [f"n{i}" for i in range(n)]
    nb = {ids[0]: ids[1:]}
    nb.update({a: [ids[0]] for a in ids[1:]})
    return ids, nb


@pytest.mark.parametrize("graph", [ring, line, star])
@pytest.mark.parametrize("n", [2, 5, 12])
def test_consensus_converges_to_average(graph, n):
    ids, nb = graph(n)
    rng = np.random.default_rng(n)
    values = {a: float(v) for a, v in zip(ids, rng.normal(0, 10, n), strict=True)}
    res = ConsensusProtocol(tol=1e-8, max_iter=20000).run(values, nb)
    mean = np.mean(list(values.values()))
    assert res.converged and res.reason is None
    assert all(isinstance(v, float) and abs(v - mean) <= 1e-8 for v in res.values.values())
    assert len(res.history) == res.iterations + 1 and res.history[-1] <= 1e-8


def test_consensus_vector_values_and_already_agreed():
    ids, nb = ring(4)
    vals = {a: np.array([i, -i], dtype=float) for i, a in enumerate(ids)}
    res = ConsensusProtocol().run(vals, nb)
    assert res.converged
    for v in res.values.values():
        assert isinstance(v, np.ndarray) and np.allclose(v, [1.5, -1.5], atol=1e-6)
    same = ConsensusProtocol().run({a: 3.0 for a in ids}, nb)
    assert same.converged and same.iterations == 0


def test_consensus_iteration_cap():
    ids, nb = line(10)
    vals = {a: float(i) for i, a in enumerate(ids)}
    res = ConsensusProtocol(tol=1e-9, max_iter=5).run(vals, nb)
    assert not res.converged and res.iterations == 5 and "max_iter=5" in res.reason
    assert len(res.history) == 6 and res.history[-1] < res.history[0]
    # The average is preserved even when stopped early.
    assert np.mean(list(res.values.values())) == pytest.approx(4.5)


def test_consensus_disconnected_graph_reports_reason():
    vals = {"a": 0.0, "b": 2.0, "c": 10.0, "d": 20.0}
    res = ConsensusProtocol(max_iter=500).run(vals, {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]})
    assert not res.converged and "disconnected" in res.reason and "2 components" in res.reason
    assert res.values["a"] == pytest.approx(1.0) and res.values["d"] == pytest.approx(15.0)


def test_consensus_unknown_ids_and_asymmetry():
    cp = ConsensusProtocol()
    with pytest.raises(ValueError, match=r"unknown neighbour\(s\) \['z'\]"):
        cp.run({"a": 1.0, "b": 2.0}, {"a": ["b", "z"]})
    with pytest.raises(ValueError, match=r"unknown agent\(s\) \['q'\]"):
        cp.run({"a": 1.0}, {"q": ["a"]})
    with pytest.warns(UserWarning, match="not symmetric"):
        res = cp.run({"a": 1.0, "b": 3.0}, {"a": ["b"]})
    assert res.converged and res.values["b"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="not symmetric"):
        ConsensusProtocol(symmetrize=False).run({"a": 1.0, "b": 3.0}, {"a": ["b"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cp.run({"a": 1.0, "b": 3.0}, {"a": ["b", "a"], "b": ["a", "a"]})  # self-loop, dup: fine
    with pytest.raises(ValueError, match="shape"):
        cp.run({"a": 1.0, "b": [1.0, 2.0]}, {"a": ["b"], "b": ["a"]})
    with pytest.raises(ValueError, match="non-finite"):
        cp.run({"a": math.nan, "b": 1.0}, {"a": ["b"], "b": ["a"]})


def test_metropolis_weights_doubly_stochastic():
    ids, nb = star(6)
    w = metropolis_weights(ids, nb)
    assert np.allclose(w, w.T) and np.allclose(w.sum(0), 1) and np.allclose(w.sum(1), 1)
    assert np.all(np.diag(w) > 0)


def test_consensus_custom_matrix():
    w = np.array([[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.0, 0.5, 0.5]])
    ids, nb = line(3)
    res = ConsensusProtocol(weights=w).run({a: float(i) for i, a in enumerate(ids)}, nb)
    assert res.converged
    with pytest.raises(ValueError, match="non-neighbour"):
        ConsensusProtocol(weights=np.full((3, 3), 1 / 3)).run({a: 0.0 for a in ids}, nb)
    with pytest.raises(ValueError, match="3 agents"):
        ConsensusProtocol(weights=np.eye(2)).run({a: 0.0 for a in ids}, nb)
    with pytest.raises(ValueError, match="row-stochastic"):
        ConsensusProtocol(weights=np.ones((2, 2)))
    with pytest.raises(ValueError, match="'metropolis' or a matrix"):
        ConsensusProtocol(weights="uniform")
    with pytest.raises(ValueError, match="tol"):
        ConsensusProtocol(tol=0)
    with pytest.raises(ValueError, match="max_iter"):
        ConsensusProtocol(max_iter=-1)


def test_consensus_protocol_interface():
    cp = ConsensusProtocol()
    with pytest.raises(NotImplementedError,
                       match=r"ConsensusProtocol\.exchange\(values, neighbours\)"):
        cp.coordinate(0, {})
    res = cp.exchange({"a": 1.0}, {})
    assert res.converged and res.values == {"a": 1.0} and cp.last_result is res
    assert cp.run({}, {}).values == {}


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 9), st.integers(0, 10_000))
def test_consensus_random_connected_graphs(n, seed):
    rnd = random.Random(seed)
    ids = [f"v{i}" for i in range(n)]
    nb = {a: set() for a in ids}
    for i in range(1, n):  # random spanning tree keeps it connected
        j = rnd.randrange(i)
        nb[ids[i]].add(ids[j])
        nb[ids[j]].add(ids[i])
    for _ in range(rnd.randrange(n)):
        a, b = rnd.sample(ids, 2)
        nb[a].add(b)
        nb[b].add(a)
    vals = {a: rnd.uniform(-100, 100) for a in ids}
    res = ConsensusProtocol(tol=1e-7, max_iter=100_000).run(vals, {a: list(v) for a, v in nb.items()})
    mean = math.fsum(vals.values()) / n
    assert res.converged
    assert all(abs(v - mean) <= 1e-7 for v in res.values.values())


# -- registry ----------------------------------------------------------------------
def test_registry_contents_and_make():
    assert {"setpoint", "price_signal", "p2p", "consensus"} <= set(PROTOCOL_REGISTRY)
    assert isinstance(make_protocol("setpoint"), SetpointProtocol)
    p = make_protocol("price_signal", price_min=1.0, price_max=2.0)
    assert isinstance(p, PriceSignalProtocol) and p.price_max == 2.0
    m = make_protocol("p2p", clearing="midpoint", max_quantity=5.0)
    assert isinstance(m, P2PTradingProtocol) and m.clearing == "midpoint"
    assert isinstance(make_protocol("consensus", tol=1e-3), ConsensusProtocol)


def test_registry_errors():
    with pytest.raises(ValueError, match=r"Unknown protocol 'p2q'; valid names: consensus, p2p, "
                                         r"price_signal, setpoint.*Did you mean 'p2p'"):
        make_protocol("p2q")
    with pytest.raises(ValueError, match="valid names"):
        make_protocol(None)
    with pytest.raises(TypeError, match=r"make_protocol\('p2p'\).*P2PTradingProtocol"):
        make_protocol("p2p", bogus=1)
    with pytest.raises(TypeError, match="not a Protocol subclass"):
        register_protocol("x", dict)
    with pytest.raises(ValueError, match="already SetpointProtocol"):
        register_protocol("setpoint", PriceSignalProtocol)


def test_register_custom_protocol():
    class Echo(Protocol):
        name = "echo"

    try:
        register_protocol("echo", Echo)
        assert isinstance(make_protocol("echo"), Echo)
        register_protocol("echo", Echo)  # re-registering the same class is harmless
    finally:
        PROTOCOL_REGISTRY.pop("echo", None)

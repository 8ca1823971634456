"""Protocol kinds: explicit in the interface (``kind``, entry points) and the registry."""

import numpy as np
import pytest

import heron.protocols as hp
from heron.agents import CoordinatorAgent, FieldAgent
from heron.protocols import (
    HORIZONTAL,
    PROTOCOL_KINDS,
    PROTOCOL_REGISTRY,
    VERTICAL,
    ConsensusProtocol,
    HorizontalProtocol,
    P2PTradingProtocol,
    PriceSignalProtocol,
    Protocol,
    SetpointProtocol,
    VerticalProtocol,
    make_protocol,
    protocol_names,
    register_protocol,
)


def test_exports():
    for name in ("VerticalProtocol", "HorizontalProtocol", "protocol_names", "VERTICAL",
                 "HORIZONTAL", "PROTOCOL_KINDS"):
        assert name in hp.__all__ and hasattr(hp, name)
    assert PROTOCOL_KINDS == (VERTICAL, HORIZONTAL) == ("vertical", "horizontal")


def test_builtin_kinds_and_hierarchy():
    assert Protocol.kind == VERTICAL  # the guide's direct subclasses are vertical
    for cls in (SetpointProtocol, PriceSignalProtocol):
        assert issubclass(cls, VerticalProtocol) and cls.kind == VERTICAL
        assert not issubclass(cls, HorizontalProtocol)
    for cls in (P2PTradingProtocol, ConsensusProtocol):
        assert issubclass(cls, HorizontalProtocol) and cls.kind == HORIZONTAL
        assert not issubclass(cls, VerticalProtocol)
        # one coordinate for all horizontal protocols, none copied per class
        assert "coordinate" not in vars(cls)
        assert cls.coordinate is HorizontalProtocol.coordinate


def test_horizontal_coordinate_names_the_class_and_exchange():
    for proto, call in ((P2PTradingProtocol(), "exchange(orders)"),
                        (ConsensusProtocol(), "exchange(values, neighbours)")):
        with pytest.raises(NotImplementedError) as info:
            proto.coordinate(np.zeros(1), {})
        msg = str(info.value)
        assert type(proto).__name__ in msg and "horizontal" in msg
        assert f"{type(proto).__name__}.{call}" in msg


def test_entry_points_are_abstract():
    class NoExchange(HorizontalProtocol):
        name = "no_exchange"

    class NoCoordinate(VerticalProtocol):
        name = "no_coordinate"

    with pytest.raises(TypeError, match="exchange"):
        NoExchange()
    with pytest.raises(TypeError, match="coordinate"):
        NoCoordinate()

    class Gossip(HorizontalProtocol):
        name = "gossip"

        def exchange(self, messages):
            return list(messages)

    g = Gossip()
    assert g.kind == HORIZONTAL and g.exchange("ab") == ["a", "b"]
    with pytest.raises(NotImplementedError, match=r"Gossip\.exchange\(messages\)"):
        g.coordinate(0, {})


def test_protocol_names_by_kind():
    assert protocol_names() == sorted(PROTOCOL_REGISTRY)
    assert {"setpoint", "price_signal"} <= set(protocol_names(VERTICAL))
    assert {"p2p", "consensus"} <= set(protocol_names(HORIZONTAL))
    assert not set(protocol_names(VERTICAL)) & set(protocol_names(HORIZONTAL))
    assert protocol_names(kind="vertical") == sorted(protocol_names(kind="vertical"))
    with pytest.raises(ValueError, match=r"unknown protocol kind 'diagonal'.*vertical, horizontal"):
        protocol_names("diagonal")


def test_make_protocol_refuses_the_wrong_kind():
    assert isinstance(make_protocol("setpoint", kind=VERTICAL), SetpointProtocol)
    assert isinstance(make_protocol("p2p", kind=HORIZONTAL, clearing="midpoint"),
                      P2PTradingProtocol)
    with pytest.raises(ValueError) as info:
        make_protocol("consensus", kind=VERTICAL)
    msg = str(info.value)
    assert "'consensus'" in msg and "ConsensusProtocol" in msg and "horizontal" in msg
    assert "valid vertical names: " + ", ".join(protocol_names(VERTICAL)) in msg
    assert "p2p" not in msg.split("valid vertical names")[1]
    with pytest.raises(ValueError, match=r"'setpoint'.*is vertical, not horizontal; "
                                         r"valid horizontal names: consensus, p2p"):
        make_protocol("setpoint", kind=HORIZONTAL)
    # unknown name with a kind: the hint and the list come from that kind only
    with pytest.raises(ValueError, match=r"Unknown protocol 'setpiont'; valid vertical names: "
                                         r".*setpoint.*Did you mean 'setpoint'"):
        make_protocol("setpiont", kind=VERTICAL)
    with pytest.raises(ValueError, match="unknown protocol kind"):
        make_protocol("setpoint", kind="sideways")


def test_kind_is_keyword_only_and_kwargs_still_reach_the_protocol():
    with pytest.raises(TypeError):
        make_protocol("setpoint", VERTICAL)  # kind must be named
    p = make_protocol("price_signal", kind=VERTICAL, price_min=1.0, price_max=3.0, normalized=True)
    assert p.to_price(0.0) == 2.0


def test_registered_protocols_are_listed_by_their_kind(scratch_registry):
    class Direct(Protocol):  # the user guide's style: subclass Protocol, implement coordinate
        name = "direct"

        def coordinate(self, coordinator_action, subordinates):
            return {sid: coordinator_action for sid in subordinates}

    class Vote(HorizontalProtocol):
        name = "vote"

        def exchange(self, ballots):
            return max(set(ballots), key=list(ballots).count)

    register_protocol("direct", Direct)
    register_protocol("vote", Vote)
    assert "direct" in protocol_names(VERTICAL) and "direct" not in protocol_names(HORIZONTAL)
    assert "vote" in protocol_names(HORIZONTAL) and "vote" not in protocol_names(VERTICAL)
    assert isinstance(make_protocol("direct", kind=VERTICAL), Direct)
    assert make_protocol("vote", kind=HORIZONTAL).exchange("aab") == "a"
    with pytest.raises(ValueError, match=r"'vote' \(Vote\) is horizontal.*direct"):
        make_protocol("vote", kind=VERTICAL)


def test_register_protocol_checks_kind(scratch_registry):
    class Odd(Protocol):
        name = "odd"
        kind = "diagonal"

    with pytest.raises(TypeError, match=r"Odd\.kind is 'diagonal'.*vertical, horizontal"):
        register_protocol("odd", Odd)
    assert "odd" not in PROTOCOL_REGISTRY
    with pytest.raises(TypeError, match="not a Protocol subclass"):
        register_protocol("x", dict)
    with pytest.raises(ValueError, match="already SetpointProtocol"):
        register_protocol("setpoint", PriceSignalProtocol)
    with pytest.raises(TypeError, match="non-empty string"):
        register_protocol("", SetpointProtocol)


class _Dial(FieldAgent):
    def get_action_space(self):
        from gymnasium.spaces import Box

        return Box(-1, 1, shape=(1,), dtype=np.float32)

    def apply_action(self, action):
        self.value = float(np.asarray(action).ravel()[0])


def test_a_coordinator_dispatches_with_a_vertical_protocol_only():
    coord = CoordinatorAgent("c", subordinate_agents={"d": _Dial("d")})
    assert isinstance(coord.protocol, VerticalProtocol)
    coord.coordinate(np.array([0.5], np.float32))
    assert coord.subordinate_agents["d"].value == 0.5
    market = CoordinatorAgent("m", protocol=P2PTradingProtocol(),
                              subordinate_agents={"d": _Dial("d")})
    with pytest.raises(NotImplementedError, match=r"P2PTradingProtocol\.exchange\(orders\)"):
        market.coordinate(np.array([0.5], np.float32))

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.messaging import InMemoryBroker, Message, UnknownTopicError, make_broker


def test_fifo_per_consumer_and_nothing_lost():
    b = InMemoryBroker()
    b.subscribe("t", "c1")
    b.subscribe("t", "c2")
    for i in range(5):
        assert b.publish(Message(sender="s", topic="t", type="x", payload={"i": i})) == i + 1
    assert [m.payload["i"] for m in b.consume("t", "c1", max_messages=2)] == [0, 1]
    assert [m.payload["i"] for m in b.consume("t", "c1")] == [2, 3, 4]
    assert [m.payload["i"] for m in b.consume("t", "c2")] == [0, 1, 2, 3, 4]


def test_pending_until_ack_then_redelivery():
    b = InMemoryBroker()
    b.subscribe("t", "c")
    b.publish(Message(sender="s", topic="t", type="x"))
    b.publish(Message(sender="s", topic="t", type="x"))
    msgs = b.consume("t", "c")
    b.ack("t", "c", msgs[0].seq)
    assert [m.seq for m in b.redeliver_pending("t", "c")] == [2]


def test_unknown_topic_is_a_clear_error():
    b = InMemoryBroker()
    with pytest.raises(UnknownTopicError, match=r"Unknown topic 'nope'.*create_topic"):
        b.publish(Message(sender="s", topic="nope", type="x"))
    b.create_topic("t")
    with pytest.raises(UnknownTopicError, match="not subscribed"):
        b.consume("t", "ghost")


def test_make_broker():
    assert isinstance(make_broker("in_memory"), InMemoryBroker)
    with pytest.raises(ValueError, match="Unknown message_broker 'kafka'"):
        make_broker("kafka")


def test_message_from_dict_validates():
    with pytest.raises(ValueError, match="missing field"):
        Message.from_dict({"sender": "a"})


@given(st.lists(st.integers(), max_size=50))
def test_order_preserved_property(values):
    b = InMemoryBroker()
    b.subscribe("t", "c")
    for v in values:
        b.publish(Message(sender="s", topic="t", type="x", payload={"v": v}))
    assert [m.payload["v"] for m in b.consume("t", "c")] == values


def test_consume_waits_for_a_publish_from_another_thread():
    # agent loops in threads share one broker with the host (heron.distributed)
    import threading
    import time

    b = InMemoryBroker()
    b.subscribe("t", "c")
    timer = threading.Timer(0.05, lambda: b.publish(Message(sender="s", topic="t", type="x")))
    t0 = time.monotonic()
    timer.start()
    got = b.consume("t", "c", timeout_s=10.0)
    assert [m.type for m in got] == ["x"] and time.monotonic() - t0 < 5.0
    t0 = time.monotonic()
    assert b.consume("t", "c", timeout_s=0.2) == [] and time.monotonic() - t0 >= 0.2


def test_copies_are_independent_brokers_with_the_same_messages():
    import copy
    import pickle

    b = InMemoryBroker()
    b.subscribe("t", "c")
    b.publish(Message(sender="s", topic="t", type="x"))
    for other in (copy.deepcopy(b), pickle.loads(pickle.dumps(b))):
        assert [m.type for m in other.consume("t", "c")] == ["x"]
    assert [m.type for m in b.consume("t", "c")] == ["x"]

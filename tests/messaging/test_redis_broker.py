"""RedisBroker against a real redis-server (fixtures from ``heron.testing.redis_service``).

No mocks: these tests exist to show that the in-memory semantics survive a real wire,
other processes, a server restart and hostile input.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from heron.agents import FieldAgent, ProxyAgent
from heron.agents.proxy_agent import request_state, send_action
from heron.core.feature import FeatureBlock
from heron.messaging import BrokerError, Message, UnknownTopicError, make_broker
from heron.messaging.redis import RedisBroker

BrokerFactory = Callable[..., RedisBroker]


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # isolates tests sharing the session server


@pytest.fixture
def make(redis_server, namespace) -> Iterator[BrokerFactory]:
    """Brokers on the session server in this test's namespace, closed afterwards."""
    made: list[RedisBroker] = []

    def factory(**kw) -> RedisBroker:
        kw.setdefault("redis_url", redis_server.url)
        kw.setdefault("namespace", namespace)
        kw.setdefault("connect_timeout_s", 5.0)
        broker = RedisBroker(**kw)
        made.append(broker)
        return broker

    yield factory
    for b in made:
        b.close()


@pytest.fixture
def raw(redis_server) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def msg(topic: str, i: int, sender: str = "s") -> Message:
    return Message(sender=sender, topic=topic, type="x", payload={"i": i})


def payloads(msgs: list[Message]) -> list[int]:
    return [m.payload["i"] for m in msgs]


def test_fifo_seq_and_subscribe_position(make):
    b = make()
    b.create_topic("t")
    b.publish(msg("t", -1))  # before anyone subscribed: like in memory, nobody gets it
    b.subscribe("t", "c")
    seqs = [b.publish(msg("t", i)) for i in range(5)]
    assert seqs == [2, 3, 4, 5, 6]
    first = b.consume("t", "c", max_messages=2)
    assert payloads(first) == [0, 1]
    assert [m.seq for m in first] == [2, 3]
    assert payloads(b.consume("t", "c")) == [2, 3, 4]
    assert b.consume("t", "c") == []
    assert b.has_topic("t") and not b.has_topic("nope")


def test_two_consumers_each_get_every_message(make):
    b = make()
    b.subscribe("t", "c1")
    b.subscribe("t", "c2")
    for i in range(4):
        b.publish(msg("t", i))
    assert payloads(b.consume("t", "c1")) == [0, 1, 2, 3]
    assert payloads(b.consume("t", "c2")) == [0, 1, 2, 3]


def test_unknown_topic_and_unsubscribed_consumer(make):
    b = make()
    with pytest.raises(UnknownTopicError, match=r"Unknown topic 'nope'.*create_topic"):
        b.publish(Message(sender="s", topic="nope", type="x"))
    with pytest.raises(UnknownTopicError, match=r"Unknown topic 'nope'"):
        b.consume("nope", "c")
    b.create_topic("t")
    with pytest.raises(UnknownTopicError, match="not subscribed"):
        b.consume("t", "ghost")
    with pytest.raises(ValueError, match="reserved"):
        b.create_topic("__topics__")


def test_topics_are_visible_across_broker_instances(make):
    a, b = make(), make()
    a.create_topic("shared")
    assert b.has_topic("shared")
    assert "shared" in b.topics


def test_pending_until_ack_and_redelivery_after_reconnect(make):
    b = make()
    b.subscribe("t", "c")
    for i in range(3):
        b.publish(msg("t", i))
    got = b.consume("t", "c")
    b.ack("t", "c", got[0].seq)
    assert [m.seq for m in b.redeliver_pending("t", "c")] == [2, 3]
    assert [m.seq for m in b.pending("t", "c")] == [2, 3]  # still pending

    # the consumer "crashes"; a new process with the same consumer name picks up its work
    b.close()
    b2 = make()
    again = b2.redeliver_pending("t", "c")
    assert payloads(again) == [1, 2]
    b2.ack("t", "c", [m.seq for m in again])
    assert b2.pending("t", "c") == []
    assert b2.consume("t", "c") == []  # nothing acked comes back as new


def test_duplicate_dropped_by_seq(make, raw, namespace):
    b = make()
    b.subscribe("t", "c")
    b.publish(msg("t", 0))
    b.publish(msg("t", 1))
    done = b.consume("t", "c")
    b.ack("t", "c", [m.seq for m in done])
    # a re-sent copy of an already-processed message (same seq) reaches the stream again
    body = {k: v for k, v in done[1].to_dict().items() if k != "seq"}
    raw.xadd(f"{namespace}:t", {"seq": str(done[1].seq), "data": json.dumps(body)})
    assert b.consume("t", "c") == []
    assert raw.xpending(f"{namespace}:t", "c")["pending"] == 0  # dropped and acked
    b.publish(msg("t", 2))
    assert [m.seq for m in b.consume("t", "c")] == [3]


def test_reply_lost_in_flight_is_not_lost(make, raw, namespace):
    b = make()
    b.subscribe("t", "c")
    b.publish(msg("t", 7))
    # the server hands the entry to consumer "c" but the reply never reaches the broker
    raw.xreadgroup("c", "c", {f"{namespace}:t": ">"})
    assert b.consume("t", "c") == []
    assert payloads(b.redeliver_pending("t", "c")) == [7]


def test_blocking_consume_waits_for_a_publisher(make):
    b = make()
    b.subscribe("t", "c")
    t0 = time.monotonic()
    assert b.consume("t", "c", timeout_s=0.3) == []
    assert 0.25 <= time.monotonic() - t0 < 2.0
    publisher = make()
    later = threading.Timer(0.2, lambda: publisher.publish(msg("t", 1)))
    later.start()
    t0 = time.monotonic()
    try:
        assert payloads(b.consume("t", "c", timeout_s=5.0)) == [1]
        assert time.monotonic() - t0 < 2.0
    finally:
        later.join()  # the publisher may still be reading its reply


def test_cross_process_publish(make, redis_server, namespace):
    b = make()
    b.subscribe("work", "parent")
    child = textwrap.dedent(f"""
        from heron.messaging import Message, make_broker
        b = make_broker("redis", redis_url={redis_server.url!r}, namespace={namespace!r})
        assert b.has_topic("work")
        for i in range(3):
            b.publish(Message(sender="child", topic="work", type="x", payload={{"i": i}}))
        b.close()
    """)
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
    got = b.consume("work", "parent", timeout_s=5.0)
    assert payloads(got) == [0, 1, 2]
    assert {m.sender for m in got} == {"child"}
    assert [m.seq for m in got] == [1, 2, 3]


def test_server_restart_mid_stream(make, redis_server, caplog):
    b = make(connect_timeout_s=10.0)
    b.subscribe("t", "c")
    for i in range(4):
        b.publish(msg("t", i))
    got = b.consume("t", "c")
    b.ack("t", "c", [got[0].seq, got[1].seq])  # 1, 2 processed; 3, 4 in flight

    redis_server.restart()  # AOF (appendfsync always) keeps streams and groups
    b.publish(msg("t", 4))  # reconnects transparently

    # a publish while the server is down waits for it (back-off) instead of failing
    redis_server.stop()
    restarter = threading.Timer(0.5, redis_server.start)
    restarter.start()
    try:
        with caplog.at_level(logging.WARNING, logger="heron.messaging.redis"):
            assert b.publish(msg("t", 5)) == 6
    finally:
        restarter.join()
    assert "reconnecting" in caplog.text

    assert payloads(b.consume("t", "c")) == [4, 5]  # nothing acked comes back
    assert [m.seq for m in b.redeliver_pending("t", "c")] == [3, 4, 5, 6]  # nothing lost
    b.ack("t", "c", [3, 4, 5, 6])
    assert b.pending("t", "c") == []


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{port}.*make redis-up.*redis_url"):
        RedisBroker(f"redis://127.0.0.1:{port}/0", connect_timeout_s=1.0)
    assert 0.9 <= time.monotonic() - t0 < 5.0


def test_server_gone_for_good_is_a_clear_error(spare_redis_server):
    b = RedisBroker(spare_redis_server.url, namespace="gone", connect_timeout_s=1.0)
    b.subscribe("t", "c")
    spare_redis_server.stop()
    t0 = time.monotonic()
    with pytest.raises(BrokerError, match=r"unreachable .* while trying to publish"):
        b.publish(msg("t", 0))
    assert time.monotonic() - t0 < 5.0
    b.close()


def test_malformed_and_oversized_messages_are_dropped(make, raw, namespace, caplog):
    b = make()
    b.subscribe("t", "c")
    key = f"{namespace}:t"
    good = json.dumps({"sender": "s", "topic": "t", "type": "x", "payload": {}})
    raw.xadd(key, {"seq": "1", "data": "{not json"})
    raw.xadd(key, {"garbage": "x"})
    raw.xadd(key, {"seq": "2", "data": "[1, 2, 3]"})
    raw.xadd(key, {"seq": "3", "data": "x" * ((1 << 20) + 1)})
    raw.xadd(key, {"seq": "x", "data": good})
    raw.xadd(key, {"seq": "4", "data": json.dumps({"sender": "s", "type": "x"})})
    raw.xadd(key, {"seq": "5", "data": good.replace('"topic":"t"', '"topic":"other"')
                   .replace('"topic": "t"', '"topic": "other"')})
    raw.xadd(key, {"seq": "6", "data": b"\xff\xfe"})
    with caplog.at_level(logging.WARNING, logger="heron.messaging.redis"):
        b.publish(msg("t", 42))
        got = b.consume("t", "c")
    assert payloads(got) == [42]
    drops = [r for r in caplog.records if "dropped message" in r.getMessage()]
    assert len(drops) == 8
    text = caplog.text
    assert "not valid JSON" in text and "oversized" in text and "no 'data' field" in text
    assert "missing field" in text and "arrived on 't'" in text
    assert raw.xpending(key, "c")["pending"] == 1  # junk acked; only the real one waits
    with pytest.raises(ValueError, match="max_message_bytes"):
        b.publish(Message(sender="s", topic="t", type="x", payload={"blob": "y" * (1 << 20)}))


def test_reset_drops_messages_keeps_topics_and_subscriptions(make):
    b = make()
    b.subscribe("t", "c")
    b.publish(msg("t", 0))
    b.publish(msg("t", 1))
    b.consume("t", "c", max_messages=1)
    b.reset()
    assert b.pending("t", "c") == [] and b.consume("t", "c") == []
    assert b.has_topic("t")
    assert b.publish(msg("t", 2)) == 3  # seq keeps counting: duplicate filters stay valid
    assert payloads(b.consume("t", "c")) == [2]


def test_make_broker_redis_and_numpy_payload(redis_server, namespace):
    import numpy as np

    b = make_broker("redis", redis_url=redis_server.url, namespace=namespace)
    try:
        assert isinstance(b, RedisBroker)
        b.subscribe("t", "c")
        b.publish(Message(sender="s", topic="t", type="x", payload={"v": np.arange(3.0)}))
        assert b.consume("t", "c")[0].payload == {"v": [0.0, 1.0, 2.0]}
    finally:
        b.close()
    with pytest.raises(BrokerError, match="closed"):
        b.publish(msg("t", 0))


@dataclass
class Power(FeatureBlock):
    p: float = 0.0


@dataclass
class Secret(FeatureBlock):
    visibility = "owner"
    cost: float = 7.0


class Device(FieldAgent):
    def __init__(self, agent_id: str, **kw):
        super().__init__(agent_id, **kw)
        self.state.add_feature("power", Power())
        self.state.add_feature("secret", Secret())


def test_proxy_agent_round_trip(make):
    proxy_side, agent_side = make(), make()  # two connections, as in two processes
    proxy = ProxyAgent(proxy_side)
    dev = Device("dev", message_broker=agent_side)
    proxy.register_agent(dev)
    dev.state.power.p = 3.0

    request_state(dev, ["dev"])
    assert proxy.serve() == 1
    reply = dev.receive()
    assert len(reply) == 1 and reply[0].type == "state_response"
    assert reply[0].payload["states"]["dev"] == {"power": [3.0], "secret": [7.0]}

    send_action(dev, [0.5, -0.5])
    assert proxy.collect_actions(["dev"])["dev"].tolist() == [0.5, -0.5]
    assert proxy_side.pending("agent.proxy.inbox", "proxy") == []  # receive() acked


def test_junk_does_not_eat_into_max_messages(make, raw, namespace):
    b = make()
    b.subscribe("t", "c")
    for _ in range(3):
        raw.xadd(f"{namespace}:t", {"junk": "1"})
    for i in range(3):
        b.publish(msg("t", i))
    assert payloads(b.consume("t", "c", max_messages=2)) == [0, 1]
    assert payloads(b.consume("t", "c", max_messages=2)) == [2]


def test_missing_redis_package_gives_install_hint():
    code = textwrap.dedent("""
        import sys
        sys.modules["redis"] = None  # as if the optional dependency were not installed
        from heron.messaging import make_broker
        try:
            make_broker("redis")
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert "pip install -e '.[distributed]'" in out.stdout


def test_entries_trimmed_while_pending_are_dropped(make, raw, namespace, caplog):
    b = make()
    b.subscribe("t", "c")
    b.publish(msg("t", 0))
    assert len(b.consume("t", "c")) == 1
    raw.xtrim(f"{namespace}:t", maxlen=0, approximate=False)  # e.g. an operator's MAXLEN
    with caplog.at_level(logging.WARNING, logger="heron.messaging.redis"):
        assert b.redeliver_pending("t", "c") == []
    assert "trimmed" in caplog.text
    assert raw.xpending(f"{namespace}:t", "c")["pending"] == 0


def test_server_that_lost_its_data_is_loud_then_recovers(make, raw, namespace, caplog):
    # Everything the namespace had is deleted (as a restart without persistence would):
    # the broker must say so, re-declare, and the restarted seq counter must not trip the
    # duplicate filter.
    b = make()
    b.subscribe("t", "c")
    for i in range(3):
        b.publish(msg("t", i))
    b.ack("t", "c", [m.seq for m in b.consume("t", "c")])
    raw.delete(*raw.keys(f"{namespace}:*"))
    with caplog.at_level(logging.WARNING, logger="heron.messaging.redis"):
        assert b.publish(msg("t", 3)) == 1
    assert "lost its data" in caplog.text and "--appendonly yes" in caplog.text
    assert b.data_losses == 1
    assert payloads(b.consume("t", "c")) == [3]
    # a topic this broker never declared is still an unknown topic, with a hint
    with pytest.raises(UnknownTopicError, match="Unknown topic 'never'"):
        b.publish(msg("never", 0))


def publish_and_consume_some(pub: RedisBroker, sub: RedisBroker) -> None:
    sub.subscribe("t", "c")
    for i in range(3):
        pub.publish(msg("t", i))
    got = sub.consume("t", "c")
    sub.ack("t", "c", [got[0].seq])  # seq 1 processed, 2 and 3 still pending


def test_restart_without_persistence_recreates_and_warns(spare_redis_server, namespace,
                                                          caplog):
    """Regression: a real server without AOF restarted mid-run used to end the host with
    ``UnknownTopicError ... Declare it with create_topic()``, hiding the data loss."""
    url = spare_redis_server.url
    pub = RedisBroker(url, namespace=namespace, connect_timeout_s=10.0)
    sub = RedisBroker(url, namespace=namespace, connect_timeout_s=10.0)
    try:
        pub.create_topic("t")
        publish_and_consume_some(pub, sub)
        spare_redis_server.restart()  # --appendonly no: every key is gone
        assert raw_keys(url, namespace) == []

        with caplog.at_level(logging.WARNING, logger="heron.messaging.redis"):
            assert pub.publish(msg("t", 10)) == 1  # the publisher notices, re-declares
            assert pub.publish(msg("t", 11)) == 2
            # the consumer's group was lost too: it notices on its next read, re-creates
            # the group at the start of the new stream and gets both (seq 1, 2 are not
            # taken for duplicates of the old 1, 2)
            assert payloads(sub.consume("t", "c")) == [10, 11]
        warnings = [r.getMessage() for r in caplog.records if "lost its data" in r.getMessage()]
        assert len(warnings) == 2  # one per broker, each naming the evidence and the fix
        assert any("topic 't'" in w for w in warnings)
        assert any("consumer group 'c'" in w for w in warnings)
        assert all("--appendonly yes" in w for w in warnings)
        assert spare_redis_server.password not in caplog.text
        assert (pub.data_losses, sub.data_losses) == (1, 1)
        # pending: only the new, unacked 1 and 2; the old run's pending 2, 3 are gone
        assert [m.seq for m in sub.pending("t", "c")] == [1, 2]
        sub.ack("t", "c", [1, 2])
        assert pub.publish(msg("t", 12)) == 3
        assert payloads(sub.consume("t", "c")) == [12]
        assert (pub.data_losses, sub.data_losses) == (1, 1)  # counted once per loss
    finally:
        pub.close()
        sub.close()


def test_restart_without_persistence_can_raise(spare_redis_server, namespace):
    url = spare_redis_server.url
    b = RedisBroker(url, namespace=namespace, connect_timeout_s=10.0, on_data_loss="raise")
    try:
        publish_and_consume_some(b, b)
        spare_redis_server.restart()
        with pytest.raises(BrokerError, match=r"lost its data .*--appendonly yes"):
            b.consume("t", "c")
        assert b.data_losses == 1
        b.subscribe("t", "c")  # declaring again is the caller's job in this mode
        b.publish(msg("t", 5))
        assert payloads(b.consume("t", "c")) == [5]
    finally:
        b.close()
    with pytest.raises(ValueError, match="on_data_loss"):
        RedisBroker(url, on_data_loss="ignore")


def raw_keys(url: str, namespace: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return client.keys(f"{namespace}:*")
    finally:
        client.close()


def test_server_requires_the_password(redis_server, namespace):
    # the raw protocol answer for a client without the password
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as conn:
        conn.sendall(b"PING\r\n")
        assert conn.recv(200).startswith(b"-NOAUTH")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=redis_server.port).ping()

    anonymous = f"redis://127.0.0.1:{redis_server.port}/0"
    t0 = time.monotonic()
    with pytest.raises(BrokerError, match=r"requires a password and redis_url has none"):
        RedisBroker(anonymous, namespace=namespace, connect_timeout_s=5.0)
    assert time.monotonic() - t0 < 2.0  # refused at once, not retried as an outage
    wrong = f"redis://:not-the-password@127.0.0.1:{redis_server.port}/0"
    with pytest.raises(BrokerError, match=r"password in redis_url is wrong") as err:
        RedisBroker(wrong, namespace=namespace)
    assert "not-the-password" not in str(err.value)  # masked

    b = RedisBroker(redis_server.url, namespace=namespace)  # the URL carries the password
    try:
        b.subscribe("t", "c")
        b.publish(msg("t", 1))
        assert payloads(b.consume("t", "c")) == [1]
        assert redis_server.password not in repr(b)
    finally:
        b.close()


def test_poisoned_seq_is_dropped_not_adopted(make, raw, namespace, caplog):
    """Regression: one raw entry with seq=10**12 made the duplicate filter drop every
    later message on the topic for that consumer, for good."""
    b = make()
    b.subscribe("t", "c")
    b.publish(msg("t", 0))
    assert payloads(b.consume("t", "c")) == [0]
    body = json.dumps({"sender": "s", "topic": "t", "type": "x", "payload": {"i": -1}})
    raw.xadd(f"{namespace}:t", {"seq": str(10**12), "data": body})
    with caplog.at_level(logging.WARNING, logger="heron.messaging.redis"):
        for i in range(1, 4):
            b.publish(msg("t", i))
        assert payloads(b.consume("t", "c")) == [1, 2, 3]
    assert "seq 1000000000000 is above the topic's counter 4" in caplog.text
    assert b.dropped_entries == 1
    assert raw.xpending(f"{namespace}:t", "c")["pending"] == 4  # the forged entry was acked
    # a forged seq the counter has reached can block at most that one seq, never later ones
    raw.xadd(f"{namespace}:t", {"seq": "5", "data": body})
    b.publish(msg("t", 5))  # seq 5, after the forgery in the stream
    b.publish(msg("t", 6))
    assert payloads(b.consume("t", "c")) == [-1, 6]
    # pending() applies the same check to what an earlier run left unacked
    raw.xadd(f"{namespace}:t", {"seq": str(10**12), "data": body})
    raw.xreadgroup("c", "c", {f"{namespace}:t": ">"})  # delivered, reply lost
    assert [m.seq for m in b.pending("t", "c")] == [1, 2, 3, 4, 5, 6]
    assert b.dropped_entries == 2


def test_seen_window_is_exact_and_bounded():
    from heron.messaging.base import SeenWindow

    w = SeenWindow(window=4)
    assert not w.seen(10)
    w.add(10)
    assert w.seen(10) and w.seen(9)  # below the first number seen: before we joined
    w.add(1000)  # a jump blocks that number only
    assert not w.seen(11) and w.seen(1000)
    for n in range(11, 30):
        w.add(n)
    assert len(w._taken) <= 8  # pruned: far below the highest counts as taken
    assert w.seen(20) and not w.seen(1001)


# --- authenticity (heron.messaging.auth) ---------------------------------------------
SECRET = "s" * 32


def test_signed_round_trip_over_redis_and_every_forgery_dropped(make, raw, namespace, caplog):
    from heron.messaging.auth import SignedBroker

    alice, bob = SignedBroker(make(), SECRET), SignedBroker(make(), SECRET)
    outsider, wrong = make(), SignedBroker(make(), "w" * 32)
    bob.subscribe("t", "bob")
    bob.subscribe("u", "bob")
    alice.publish(Message(sender="alice", topic="t", type="x", payload={"v": [0.1, 2]},
                          recipient="bob"))
    got = bob.consume("t", "bob")
    assert [m.payload for m in got] == [{"v": [0.1, 2]}] and got[0].auth["sig"]
    genuine = got[0].to_dict()
    bob.ack("t", "bob", [got[0].seq])

    def forged(**changes) -> Message:
        return Message.from_dict({**genuine, **changes})

    with caplog.at_level(logging.WARNING, logger="heron.messaging.auth"):
        outsider.publish(msg("t", 1, sender="alice"))                        # unsigned
        wrong.publish(msg("t", 2, sender="alice"))                           # other key
        outsider.publish(forged(payload={"v": [9.9, 2]}))                    # tampered
        outsider.publish(forged(type="y"))
        outsider.publish(forged(sender="mallory"))
        outsider.publish(forged(topic="u"))                                  # redirected
        outsider.publish(forged())                                           # replayed
        outsider.publish(forged(auth={"v": 1, "id": "x", "n": "1", "sig": "0"}))
        outsider.publish(forged(auth=[1, 2]))
        alice.publish(msg("t", 3, sender="alice"))                           # genuine
        assert payloads(bob.consume("t", "bob", timeout_s=1.0)) == [3]
        assert bob.consume("u", "bob") == []
    reasons = [r.reason.split(" (")[0] for r in bob.rejected]
    assert reasons == ["unsigned message", "bad signature", "bad signature", "bad signature",
                       "bad signature", "replayed message", "malformed auth block",
                       "malformed auth block", "bad signature"]
    assert [r.topic for r in bob.rejected][-1] == "u"
    assert "claiming to be from 'mallory': bad signature" in caplog.text
    assert SECRET not in caplog.text
    assert raw.xpending(f"{namespace}:t", "bob")["pending"] == 1  # forgeries acked
    # redelivery of a genuine pending message is not a replay
    assert [m.payload["i"] for m in bob.redeliver_pending("t", "bob")] == [3]
    assert bob.data_losses == 0  # the inner broker's attributes read through


def test_signed_broker_in_memory_and_its_limits():
    import numpy as np

    from heron.messaging import InMemoryBroker
    from heron.messaging.auth import (
        RUN_SECRET_ENV,
        SignedBroker,
        new_run_secret,
        secret_from_env,
    )

    secret = new_run_secret()
    assert len(secret) == 64 and secret != new_run_secret()
    assert secret_from_env({RUN_SECRET_ENV: f" {secret}\n"}) == secret
    assert secret_from_env({}) is None
    inner = InMemoryBroker()
    a = SignedBroker(inner, secret)
    a.subscribe("t", "c")
    a.publish(Message(sender="s", topic="t", type="x",
                      payload={"v": np.arange(3, dtype=np.float32), "nan": float("nan")}))
    got = a.consume("t", "c")
    assert len(got) == 1 and a.rejected == []  # numpy and NaN payloads verify
    inner.publish(msg("t", 1))
    assert a.consume("t", "c") == [] and a.rejected[0].reason.startswith("unsigned")
    assert inner.pending("t", "c") == got  # the forgery was acked, the genuine one not
    with pytest.raises(ValueError, match="at least 16"):
        SignedBroker(inner, "short")
    with pytest.raises(TypeError, match="already signed"):
        SignedBroker(a, secret)
    with pytest.raises(ValueError, match="Cannot sign"):
        a.publish(Message(sender="s", topic="t", type="x", payload={1: "a", "b": 2}))

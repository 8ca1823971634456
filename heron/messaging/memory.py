"""In-process broker: the embedded default for distributed mode.

It keeps the same semantics as the Redis transport (declared topics, per-consumer
FIFO, pending-until-ack, ``consume(timeout_s=...)`` waiting for the first message) so
code tested here behaves the same on a real broker. It is thread-safe, so a
distributed host and agent loops in threads of one process can share it
(``heron.distributed`` runs that way without a server).
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict, deque

from heron.messaging.base import BrokerError, Message, MessageBroker, UnknownTopicError


class InMemoryBroker(MessageBroker):
    def __init__(self) -> None:
        self._seq: dict[str, int] = {}
        self._queues: dict[str, dict[str, deque[Message]]] = {}
        self._pending: dict[str, dict[str, OrderedDict[int, Message]]] = {}
        self._closed = False
        # one lock for every structure; publish wakes consumers waiting in consume()
        self._cond = threading.Condition(threading.RLock())

    def __getstate__(self) -> dict:
        # a lock cannot be copied or pickled; a copy (e.g. inside a deep-copied env
        # config) is an independent broker with the same messages and a lock of its own
        with self._cond:
            return {k: v for k, v in self.__dict__.items() if k != "_cond"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cond = threading.Condition(threading.RLock())

    # -- topics --------------------------------------------------------------------
    def create_topic(self, topic: str) -> None:
        self._check_open()
        if not topic or not isinstance(topic, str):
            raise ValueError(f"Topic name must be a non-empty string, got {topic!r}.")
        with self._cond:
            self._seq.setdefault(topic, 0)
            self._queues.setdefault(topic, {})
            self._pending.setdefault(topic, {})

    def has_topic(self, topic: str) -> bool:
        return topic in self._seq

    @property
    def topics(self) -> list[str]:
        return list(self._seq)

    def _require_topic(self, topic: str) -> None:
        if topic not in self._seq:
            known = ", ".join(sorted(self._seq)[:10]) or "none"
            raise UnknownTopicError(
                f"Unknown topic {topic!r}. Declare it with create_topic() or subscribe() "
                f"first. Known topics: {known}."
            )

    def subscribe(self, topic: str, consumer: str) -> None:
        with self._cond:
            self.create_topic(topic)
            self._queues[topic].setdefault(consumer, deque())
            self._pending[topic].setdefault(consumer, OrderedDict())

    # -- traffic -------------------------------------------------------------------
    def publish(self, message: Message) -> int:
        self._check_open()
        if not isinstance(message, Message):
            raise TypeError(f"publish expects a Message, got {type(message).__name__}.")
        with self._cond:
            self._require_topic(message.topic)
            self._seq[message.topic] += 1
            message.seq = self._seq[message.topic]
            for queue in self._queues[message.topic].values():
                # each consumer gets its own copy, as over a real wire
                queue.append(copy.deepcopy(message))
            self._cond.notify_all()
            return message.seq

    def consume(self, topic: str, consumer: str, max_messages: int | None = None,
                timeout_s: float = 0.0) -> list[Message]:
        self._check_open()
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            self._require_topic(topic)
            queue = self._queues[topic].get(consumer)
            if queue is None:
                raise UnknownTopicError(
                    f"Consumer {consumer!r} is not subscribed to {topic!r}; call subscribe() "
                    "first."
                )
            while not queue and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            out: list[Message] = []
            while queue and (max_messages is None or len(out) < max_messages):
                msg = queue.popleft()
                self._pending[topic][consumer][msg.seq] = msg
                out.append(msg)
            return out

    def ack(self, topic: str, consumer: str, seqs: int | list[int]) -> None:
        with self._cond:
            self._require_topic(topic)
            pending = self._pending[topic].get(consumer, {})
            for seq in [seqs] if isinstance(seqs, int) else seqs:
                pending.pop(seq, None)

    def pending(self, topic: str, consumer: str) -> list[Message]:
        with self._cond:
            self._require_topic(topic)
            return list(self._pending[topic].get(consumer, {}).values())

    def reset(self) -> None:
        with self._cond:
            for topic in self._queues:
                for consumer in self._queues[topic]:
                    self._queues[topic][consumer].clear()
                    self._pending[topic][consumer].clear()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()  # a consumer waiting in consume() returns at once

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerError("InMemoryBroker is closed; create a new one.")

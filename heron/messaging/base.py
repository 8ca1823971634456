"""Message and broker interface shared by every transport.

The interface is deliberately the intersection of what an in-process queue and a
real broker (Redis Streams with consumer groups) can both guarantee: named topics,
FIFO order per topic, per-consumer delivery, explicit acknowledgement, and a
sequence number per topic so receivers can drop duplicates after a redelivery.
Authenticity (who sent a message) is a separate layer: :mod:`heron.messaging.auth`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any


class BrokerError(RuntimeError):
    """A broker operation failed (unreachable server, closed broker, ...)."""


class UnknownTopicError(BrokerError, KeyError):
    """Publishing or consuming on a topic that nobody declared."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "unknown topic"


@dataclass
class Message:
    """One message. ``seq`` is assigned by the broker on publish (per topic, from 1).

    ``auth`` is the signature block :class:`~heron.messaging.auth.SignedBroker` adds
    (``None`` on unsigned transports); brokers carry it as an opaque field.
    """

    sender: str
    topic: str
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    recipient: str | None = None
    timestamp: float = field(default_factory=time.time)
    seq: int = 0
    auth: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        missing = {"sender", "topic", "type"} - set(data)
        if missing:
            raise ValueError(f"Malformed message: missing field(s) {sorted(missing)}.")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class SeenWindow:
    """The sequence numbers a receiver already took, remembered exactly.

    A high-water mark ("drop anything not above the highest seen") is the usual
    duplicate filter, but one entry with a huge number (forged, or written by hand)
    would then silence the sender for good. Remembering *which* numbers were taken
    means one bad number can block at most that one number. Memory stays bounded:
    numbers more than ``window`` below the highest seen count as taken (senders
    number in order, so only a replay is ever that far behind), and so does anything
    below the first number seen (what was published before the receiver joined).
    """

    def __init__(self, window: int = 4096) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}.")
        self.window = int(window)
        self._floor: int | None = None  # every number <= floor counts as taken
        self._taken: set[int] = set()

    def seen(self, n: int) -> bool:
        return self._floor is not None and (n <= self._floor or n in self._taken)

    def add(self, n: int) -> None:
        if self._floor is None:
            self._floor = n - 1
        if n <= self._floor:
            return
        self._taken.add(n)
        if len(self._taken) > 2 * self.window:
            self._floor = max(self._floor, max(self._taken) - self.window)
            self._taken = {s for s in self._taken if s > self._floor}


class MessageBroker(ABC):
    """Transport for :class:`Message` objects.

    Topics must be declared (``create_topic`` or ``subscribe``) before use, so a typo
    in a topic name fails loudly instead of silently dropping messages.
    Delivery is at-least-once: a consumed message stays *pending* for its consumer
    until ``ack``-ed, and ``redeliver_pending`` hands un-acked messages out again.
    """

    @abstractmethod
    def create_topic(self, topic: str) -> None: ...

    @abstractmethod
    def has_topic(self, topic: str) -> bool: ...

    @abstractmethod
    def subscribe(self, topic: str, consumer: str) -> None: ...

    @abstractmethod
    def publish(self, message: Message) -> int:
        """Append ``message`` to ``message.topic``; returns its sequence number."""

    @abstractmethod
    def consume(self, topic: str, consumer: str, max_messages: int | None = None,
                timeout_s: float = 0.0) -> list[Message]:
        """New messages for ``consumer`` in FIFO order (they become pending)."""

    @abstractmethod
    def ack(self, topic: str, consumer: str, seqs: int | list[int]) -> None: ...

    @abstractmethod
    def pending(self, topic: str, consumer: str) -> list[Message]: ...

    def redeliver_pending(self, topic: str, consumer: str) -> list[Message]:
        """Un-acked messages for ``consumer``, again (they stay pending)."""
        return self.pending(topic, consumer)

    def close(self) -> None:
        """Release connections; the in-memory broker has nothing to release."""

    def reset(self) -> None:
        """Drop all messages but keep topics and subscriptions (between episodes)."""


def make_broker(kind: str | MessageBroker | None = "in_memory", **kwargs: Any) -> MessageBroker:
    """Build a broker from a config value (``in_memory`` or ``redis``)."""
    if isinstance(kind, MessageBroker):
        return kind
    if kind in (None, "in_memory", "memory"):
        from heron.messaging.memory import InMemoryBroker

        return InMemoryBroker()
    if kind == "redis":
        try:
            from heron.messaging.redis import RedisBroker
        except ImportError as exc:  # pragma: no cover - depends on optional install
            raise ImportError(
                "message_broker: redis needs the redis package. "
                "Install it with: pip install -e '.[distributed]'"
            ) from exc
        return RedisBroker(**kwargs)
    raise ValueError(
        f"Unknown message_broker {kind!r}. Use 'in_memory' (default) or 'redis'."
    )

"""A message broker whose deliveries wait on the simulated clock.

Communication latency changes what a coordinator knows when it decides. Wrapping
any :class:`~heron.messaging.base.MessageBroker` keeps the transport semantics
(topics, FIFO per consumer, pending-until-ack) and only postpones the moment a
message enters the real broker: a message published at ``now`` becomes consumable
once the scheduler's clock reaches ``now + delay``. Nothing is delivered by a
background thread; the owner of the :class:`EventScheduler` advances time.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from heron.messaging.base import Message, MessageBroker, UnknownTopicError
from heron.scheduling.scheduler import Event, EventScheduler


class DelayedBroker(MessageBroker):
    """Delay publishes on ``broker`` by ``delay_steps`` of ``scheduler`` time.

    Args:
        broker: the real transport (in-memory or Redis).
        scheduler: the clock deliveries wait on.
        delay_steps: one delay for every sender, or ``{sender: delay}``.
        default_delay: delay for senders missing from a ``delay_steps`` mapping.
        jitter: up to this many extra steps per message (int or per-sender mapping),
            from an RNG seeded with ``seed``. Messages from one sender on one topic
            stay in order, as over a TCP connection.
        priority: same-time ordering against other events on the scheduler.

    ``publish`` returns the broker's sequence number when the message is delivered
    at once (zero delay) and ``0`` when it is still in flight: the real number is
    assigned on delivery and is then visible as ``Message.seq`` to consumers.
    """

    def __init__(self, broker: MessageBroker, scheduler: EventScheduler,
                 delay_steps: int | Mapping[str, int] = 1, *, default_delay: int = 0,
                 jitter: int | Mapping[str, int] = 0, seed: int | None = None,
                 priority: int = 0) -> None:
        self.broker = broker
        self.scheduler = scheduler
        self.delay_steps = delay_steps if isinstance(delay_steps, int) else dict(delay_steps)
        self.default_delay = default_delay
        self.jitter = jitter if isinstance(jitter, int) else dict(jitter)
        for value in self._all_ints():
            if value < 0:
                raise ValueError(f"DelayedBroker: delays and jitter must be >= 0, got {value}.")
        self.seed = seed
        self.priority = priority
        self.np_random = np.random.default_rng(seed)
        self._in_flight: dict[int, Event] = {}
        self._last: dict[tuple[str, str], float] = {}
        self.delivered = 0

    def _all_ints(self) -> list[int]:
        values = [self.default_delay]
        for v in (self.delay_steps, self.jitter):
            values.extend([v] if isinstance(v, int) else v.values())
        return values

    def delay_for(self, sender: str) -> int:
        if isinstance(self.delay_steps, int):
            return self.delay_steps
        return self.delay_steps.get(sender, self.default_delay)

    def _jitter_for(self, sender: str) -> int:
        j = self.jitter if isinstance(self.jitter, int) else self.jitter.get(sender, 0)
        return int(self.np_random.integers(0, j + 1)) if j else 0

    # -- delayed path ----------------------------------------------------------------
    def publish(self, message: Message) -> int:
        if not isinstance(message, Message):
            raise TypeError(f"publish expects a Message, got {type(message).__name__}.")
        if not self.broker.has_topic(message.topic):
            # fail at send time, where the typo is, not steps later at delivery
            raise UnknownTopicError(
                f"Unknown topic {message.topic!r}. Declare it with create_topic() or "
                "subscribe() first."
            )
        now = self.scheduler.now
        key = (message.sender, message.topic)
        when = max(now + self.delay_for(message.sender) + self._jitter_for(message.sender),
                   self._last.get(key, now))
        if when <= now:
            return self.broker.publish(message)
        self._last[key] = when
        event = self.scheduler.schedule(when, self._deliver, priority=self.priority,
                                        name=f"deliver:{message.topic}", payload=message)
        self._in_flight[event.seq] = event
        return 0

    def _deliver(self, event: Event) -> None:
        self._in_flight.pop(event.seq, None)
        self.broker.publish(event.payload)
        self.delivered += 1

    @property
    def in_flight(self) -> list[Message]:
        """Messages published but not yet delivered, in delivery order."""
        return [e.payload for e in sorted(self._in_flight.values())]

    def reset(self) -> None:
        """Drop in-flight messages and the wrapped broker's queues; re-seed jitter."""
        for event in self._in_flight.values():
            self.scheduler.cancel(event)
        self._in_flight.clear()
        self._last.clear()
        self.np_random = np.random.default_rng(self.seed)
        self.broker.reset()

    # -- pass-through ----------------------------------------------------------------
    def create_topic(self, topic: str) -> None:
        self.broker.create_topic(topic)

    def has_topic(self, topic: str) -> bool:
        return self.broker.has_topic(topic)

    def subscribe(self, topic: str, consumer: str) -> None:
        self.broker.subscribe(topic, consumer)

    def consume(self, topic: str, consumer: str, max_messages: int | None = None,
                timeout_s: float = 0.0) -> list[Message]:
        return self.broker.consume(topic, consumer, max_messages=max_messages,
                                   timeout_s=timeout_s)

    def ack(self, topic: str, consumer: str, seqs: int | list[int]) -> None:
        self.broker.ack(topic, consumer, seqs)

    def pending(self, topic: str, consumer: str) -> list[Message]:
        return self.broker.pending(topic, consumer)

    def redeliver_pending(self, topic: str, consumer: str) -> list[Message]:
        return self.broker.redeliver_pending(topic, consumer)

    def close(self) -> None:
        self.broker.close()

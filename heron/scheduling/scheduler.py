"""A minimal discrete-event scheduler.

Timing effects (slow controllers, sensor latency, network delay) are easiest to
reason about as events on one timeline instead of counters scattered over the
environment loop. Everything that happens "later" is a callback scheduled at a
simulated time; the owner of the timeline advances it with :meth:`run_until`.

Determinism matters more than speed here: a timing study is only useful if the
same seed gives the same trajectory. Events are therefore ordered by
``(time, priority, seq)`` where ``seq`` is a global insertion counter, so events at
the same time and priority run in the order they were scheduled, never in an
order that depends on hashing or heap internals.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Events up to this far past ``until`` still count as due. Tick times computed
#: from ``period_s / step_seconds`` are floats; without a tolerance a tick meant for
#: step 3 could land at 3.0000000000000004 and slip to step 4.
TIME_EPS = 1e-9


@dataclass(order=True)
class Event:
    """One scheduled callback. Compared by ``(time, priority, seq)`` only."""

    time: float
    priority: int
    seq: int
    name: str = field(default="", compare=False)
    callback: Callable[[Event], Any] | None = field(default=None, compare=False, repr=False)
    payload: Any = field(default=None, compare=False, repr=False)
    cancelled: bool = field(default=False, compare=False)


class EventScheduler:
    """Priority queue of :class:`Event` with a monotone clock ``now``.

    Callbacks may schedule new events, including at the current time; those run in
    the same :meth:`run_until` call, after every earlier-keyed event. Scheduling in
    the past is an error because it would silently reorder causality.
    """

    def __init__(self, start_time: float = 0.0) -> None:
        self._start = float(start_time)
        self.now: float = self._start
        self._queue: list[Event] = []
        self._seq = itertools.count()
        self._live = 0
        #: ``(time, name)`` of every event that ran, for tests and debugging.
        self.log: list[tuple[float, str]] = []
        self.keep_log = False

    # -- scheduling ----------------------------------------------------------------
    def schedule(self, time: float, callback: Callable[[Event], Any] | None = None, *,
                 priority: int = 0, name: str = "", payload: Any = None) -> Event:
        """Run ``callback(event)`` at simulated ``time``; returns the event (to cancel)."""
        time = float(time)
        if not math.isfinite(time):
            raise ValueError(f"Event {name!r}: time must be finite, got {time}.")
        if time < self.now - TIME_EPS:
            raise ValueError(
                f"Event {name!r} scheduled at t={time}, before the clock (now={self.now}); "
                "events cannot be scheduled in the past."
            )
        event = Event(time=max(time, self.now), priority=int(priority), seq=next(self._seq),
                      name=name, callback=callback, payload=payload)
        heapq.heappush(self._queue, event)
        self._live += 1
        return event

    def schedule_in(self, delay: float, callback: Callable[[Event], Any] | None = None,
                    **kwargs: Any) -> Event:
        """Like :meth:`schedule`, relative to ``now``."""
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}.")
        return self.schedule(self.now + delay, callback, **kwargs)

    def cancel(self, event: Event) -> None:
        """Drop a pending event (lazily: it stays in the heap but never runs)."""
        if not event.cancelled:
            event.cancelled = True
            self._live -= 1

    # -- running -------------------------------------------------------------------
    def peek_time(self) -> float | None:
        """Time of the next live event, or ``None`` when nothing is pending."""
        self._drop_cancelled()
        return self._queue[0].time if self._queue else None

    def pop_due(self, until: float) -> Event | None:
        """Remove and return the next live event with ``time <= until`` (no callback run)."""
        self._drop_cancelled()
        if self._queue and self._queue[0].time <= until + TIME_EPS:
            event = heapq.heappop(self._queue)
            self._live -= 1
            self.now = max(self.now, event.time)
            return event
        return None

    def run_until(self, until: float) -> int:
        """Run every event due at or before ``until`` in order, then set ``now = until``.

        Returns the number of events run.
        """
        if until < self.now - TIME_EPS:
            raise ValueError(f"Cannot run the clock backwards (now={self.now}, until={until}).")
        count = 0
        while (event := self.pop_due(until)) is not None:
            if self.keep_log:
                self.log.append((event.time, event.name))
            if event.callback is not None:
                event.callback(event)
            count += 1
        self.now = max(self.now, float(until))
        return count

    def advance(self, dt: float = 1.0) -> int:
        """Move the clock forward by ``dt`` running due events (see :meth:`run_until`)."""
        return self.run_until(self.now + dt)

    def reset(self, start_time: float | None = None) -> None:
        """Forget every pending event and rewind the clock (between episodes)."""
        self._start = self._start if start_time is None else float(start_time)
        self.now = self._start
        for event in self._queue:
            event.cancelled = True  # a later cancel() of a forgotten event is a no-op
        self._queue.clear()
        self._seq = itertools.count()
        self._live = 0
        self.log.clear()

    def _drop_cancelled(self) -> None:
        while self._queue and self._queue[0].cancelled:
            heapq.heappop(self._queue)

    def __len__(self) -> int:
        """Number of pending (not cancelled) events."""
        return self._live

    def __repr__(self) -> str:
        return f"EventScheduler(now={self.now}, pending={len(self)})"

"""Event-driven execution: test a policy under realistic timing.

Lock-step environments assume every controller observes the present and acts at
once, every step. This package relaxes that without changing environments or
policies: :class:`EventDrivenEnv` wraps any PettingZoo ``ParallelEnv`` with
per-agent tick rates, observation and action delays (:class:`AgentTiming`), and
:class:`DelayedBroker` postpones broker messages on the same simulated clock
(:class:`EventScheduler`).
"""

from heron.scheduling.broker import DelayedBroker
from heron.scheduling.clock import AgentTiming, SimClock
from heron.scheduling.env import EventDrivenEnv, default_action_for
from heron.scheduling.scheduler import Event, EventScheduler

__all__ = [
    "AgentTiming",
    "DelayedBroker",
    "Event",
    "EventDrivenEnv",
    "EventScheduler",
    "SimClock",
    "default_action_for",
]

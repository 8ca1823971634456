"""Simulated time and per-agent timing.

A HERON environment advances in base steps (``env.step`` = one step). Real
controllers do not all run at that rate and do not see or act on the plant
instantly. :class:`AgentTiming` states, per agent, how far reality is from the
idealised lock-step loop; :class:`SimClock` converts between steps and seconds so a
tick rate can be given in either unit.

Delays are whole steps on purpose: the wrapped env only has a state at step
boundaries, so a sub-step delay has no observable meaning. Tick *periods* may be
fractional (``period_s`` not a multiple of the step length); such a tick lands at
the first step boundary at or after its time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimClock:
    """Conversion between base steps and simulated seconds."""

    step_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not self.step_seconds > 0:
            raise ValueError(f"step_seconds must be > 0, got {self.step_seconds}.")

    def to_steps(self, seconds: float) -> float:
        return float(seconds) / self.step_seconds

    def to_seconds(self, steps: float) -> float:
        return float(steps) * self.step_seconds


@dataclass(frozen=True)
class AgentTiming:
    """How one agent's control loop departs from lock-step execution.

    Args:
        tick_period: the agent acts every ``tick_period`` base steps (1 = every step).
        obs_delay: the agent sees the observation from ``obs_delay`` steps ago.
        action_delay: an action decided at step t takes effect at step t + delay.
        msg_delay: broker messages sent by this agent arrive ``msg_delay`` steps later
            (used by :meth:`EventDrivenEnv.delayed_broker`).
        jitter: up to this many extra steps, drawn uniformly per event from the
            wrapper's seeded RNG, added to each of the three delays. Delivery stays
            in order per agent (like TCP), so jitter never reorders an agent's own
            actions, observations or messages.
        period_s: alternative to ``tick_period`` in simulated seconds; needs the
            wrapper's ``step_seconds``. May be a non-multiple of the step length.
        phase: step of the agent's first tick (stagger agents that share a period).
    """

    tick_period: int = 1
    obs_delay: int = 0
    action_delay: int = 0
    msg_delay: int = 0
    jitter: int = 0
    period_s: float | None = None
    phase: int = 0

    def __post_init__(self) -> None:
        for name in ("tick_period", "obs_delay", "action_delay", "msg_delay", "jitter", "phase"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"AgentTiming.{name} must be an int number of steps, got {value!r}."
                )
            if value < 0:
                raise ValueError(f"AgentTiming.{name} must be >= 0, got {value}.")
        if self.tick_period < 1:
            raise ValueError("AgentTiming.tick_period must be >= 1 (1 = act every step).")
        if self.period_s is not None and not self.period_s > 0:
            raise ValueError(f"AgentTiming.period_s must be > 0 seconds, got {self.period_s}.")

    def period_steps(self, clock: SimClock | None) -> float:
        """Tick period in (possibly fractional) base steps."""
        if self.period_s is None:
            return float(self.tick_period)
        if clock is None:
            raise ValueError(
                "AgentTiming(period_s=...) needs to know how long a step is: pass "
                "step_seconds=... to EventDrivenEnv (or use tick_period in steps)."
            )
        return clock.to_steps(self.period_s)

    @property
    def is_ideal(self) -> bool:
        """True when this timing is the plain lock-step loop (no effect at all)."""
        return (self.tick_period == 1 and self.period_s is None and self.phase == 0
                and self.obs_delay == self.action_delay == self.msg_delay == self.jitter == 0)

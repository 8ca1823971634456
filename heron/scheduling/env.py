"""Run any PettingZoo ``ParallelEnv`` under realistic per-agent timing.

A policy trained in lock-step (every agent observes the current state and acts
every step) may degrade when deployed on controllers that run slower than the
plant, read stale measurements, or whose commands arrive late. :class:`EventDrivenEnv`
lets evaluation code measure that without touching the environment or the policy:
it keeps the ``ParallelEnv`` API and changes only *which* observation each agent
gets and *which* action reaches the wrapped env.

Per base step ``t`` the wrapper

1. accepts actions only from agents that tick at ``t`` (the others may send
   anything or nothing; their action is ignored),
2. schedules each accepted action to take effect at ``t + action_delay``,
3. steps the wrapped env with the action currently in force for every agent (the
   last applied one: zero-order hold, as a real actuator keeps its setpoint),
4. buffers the true observations and returns each agent the one from
   ``t + 1 - obs_delay`` (clamped to the reset observation early on).

With every timing at its default (tick 1, no delays, no jitter) the wrapper passes
the same actions in the same order to the wrapped env, so trajectories are
identical. Until an agent's first action takes effect, the env receives that
agent's ``default_action`` (zeros clipped into the action space unless given).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from heron.messaging.base import MessageBroker
from heron.scheduling.broker import DelayedBroker
from heron.scheduling.clock import AgentTiming, SimClock
from heron.scheduling.scheduler import Event, EventScheduler

# Same-time ordering: deliveries, then actions taking effect, then ticks. Only the
# relative order within one kind is observable; fixing it keeps logs reproducible.
PRIORITY_DELIVER = 0
PRIORITY_APPLY = 1
PRIORITY_TICK = 2


def default_action_for(space: spaces.Space) -> Any:
    """A neutral action: zeros clipped into a Box; the first element otherwise.

    Zero is the natural "do nothing" of normalised action spaces; a space that
    excludes zero gets the nearest admissible value instead of an invalid action.
    """
    if isinstance(space, spaces.Box):
        return np.clip(np.zeros(space.shape, dtype=space.dtype), space.low, space.high)
    if isinstance(space, spaces.Discrete):
        return int(space.start)
    if isinstance(space, spaces.Dict):
        return {k: default_action_for(s) for k, s in space.spaces.items()}
    raise TypeError(
        f"No default action for {space}; pass default_actions={{agent: action}} to "
        "EventDrivenEnv."
    )


class EventDrivenEnv(ParallelEnv):
    """Wrap ``env`` so each agent acts, observes and communicates on its own timing.

    Args:
        env: any PettingZoo ``ParallelEnv`` (HERON's ``HeronParallelEnv`` included;
            its RLlib-style ``"__all__"`` keys pass through unchanged).
        timings: ``{agent_id: AgentTiming}``; agents not listed run lock-step.
        seed: seeds the jitter RNG; ``reset(seed=s)`` re-seeds it from ``(seed, s)``
            so seeded episodes are reproducible.
        step_seconds: length of one base step, needed only for ``period_s`` timings.
        default_actions: action in force before an agent's first action takes effect.
        annotate_infos: add ``infos[agent]["timing"]`` (observation step, whether the
            agent acts next step). Off by default so that an ideal timing is an exact
            no-op, infos included.
    """

    def __init__(self, env: ParallelEnv, timings: Mapping[str, AgentTiming] | None = None,
                 seed: int | None = None, step_seconds: float | None = None,
                 default_actions: Mapping[str, Any] | None = None,
                 annotate_infos: bool = False) -> None:
        self.env = env
        self.metadata = getattr(env, "metadata", {})
        self.possible_agents = list(env.possible_agents)
        timings = dict(timings or {})
        unknown = set(timings) - set(self.possible_agents)
        if unknown:
            raise KeyError(
                f"EventDrivenEnv: timings for unknown agent(s) {sorted(unknown)}; "
                f"agents are {self.possible_agents}."
            )
        for agent, timing in timings.items():
            if not isinstance(timing, AgentTiming):
                raise TypeError(f"timings[{agent!r}] must be an AgentTiming, got {timing!r}.")
        self.timings: dict[str, AgentTiming] = {
            a: timings.get(a, AgentTiming()) for a in self.possible_agents
        }
        self.clock = SimClock(step_seconds) if step_seconds is not None else None
        self._period = {a: t.period_steps(self.clock) for a, t in self.timings.items()}
        self._default_actions = dict(default_actions or {})
        self.annotate_infos = annotate_infos
        self.seed = seed
        self.np_random = np.random.default_rng(seed)
        self.scheduler = EventScheduler()
        self._step = 0
        self._held: dict[str, Any] = {}
        self._ticking: set[str] = set()
        self._tick_count: dict[str, int] = {}
        self._last_apply: dict[str, float] = {}
        self._obs_hist: dict[str, deque[tuple[int, Any]]] = {}
        self._obs_step: dict[str, int] = {}
        self._brokers: list[DelayedBroker] = []

    # -- pass-through API ----------------------------------------------------------
    @property
    def agents(self) -> list[str]:
        return self.env.agents

    @property
    def unwrapped(self) -> ParallelEnv:
        return getattr(self.env, "unwrapped", self.env)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.env.observation_space(agent)

    def action_space(self, agent: str) -> spaces.Space:
        return self.env.action_space(agent)

    def state(self) -> np.ndarray:
        """The wrapped env's true, undelayed global state (for centralized critics)."""
        return self.env.state()

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:
        # Reached only for attributes this wrapper lacks (e.g. ``agent_dict``), so
        # code that pokes at the domain env keeps working through the wrapper.
        if name.startswith("_") or name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    # -- timing introspection --------------------------------------------------------
    @property
    def step_count(self) -> int:
        """Base steps taken since reset (the scheduler's clock)."""
        return self._step

    @property
    def ticking_agents(self) -> list[str]:
        """Agents whose action the next :meth:`step` will accept; others are held."""
        return [a for a in self.possible_agents if a in self._ticking]

    @property
    def held_actions(self) -> dict[str, Any]:
        """Actions currently in force (what the wrapped env receives next step)."""
        return dict(self._held)

    def delayed_broker(self, broker: MessageBroker) -> DelayedBroker:
        """Wrap ``broker`` so each sender's messages take its ``msg_delay`` steps.

        Deliveries ride on this env's clock: they happen as :meth:`step` advances it.
        Senders without a timing (e.g. subordinate devices) are delivered at once.
        """
        delayed = DelayedBroker(
            broker, self.scheduler,
            delay_steps={a: t.msg_delay for a, t in self.timings.items()},
            jitter={a: t.jitter for a, t in self.timings.items()},
            seed=self.seed, priority=PRIORITY_DELIVER,
        )
        self._brokers.append(delayed)
        return delayed

    # -- episode -------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random = np.random.default_rng([0 if self.seed is None else self.seed, seed])
        obs, infos = self.env.reset(seed=seed, options=options)
        for broker in self._brokers:
            broker.reset()
        self.scheduler.reset()
        self._step = 0
        self._ticking = set()
        self._last_apply = {}
        self._held = {a: self._default_action(a) for a in self.possible_agents}
        self._obs_hist = {}
        self._obs_step = {}
        for agent in self.possible_agents:
            timing = self.timings[agent]
            self._tick_count[agent] = 0
            self.scheduler.schedule(timing.phase, self._on_tick, priority=PRIORITY_TICK,
                                    name=f"tick:{agent}", payload=agent)
        self.scheduler.run_until(0)
        self._record(obs)
        return self._delayed(obs), self._annotate(infos)

    def step(self, actions: dict[str, Any]):
        t = self._step
        if not self.env.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first.")
        unknown = set(actions) - set(self.possible_agents)
        if unknown:
            raise KeyError(f"Actions for unknown agent(s) {sorted(unknown)}; "
                           f"agents are {self.possible_agents}.")
        acting = [a for a in self.possible_agents if a in self._ticking and a in self.env.agents]
        missing = [a for a in acting if a not in actions]
        if missing:
            raise KeyError(f"No action for agent(s) {missing}, which tick at step {t}; "
                           f"ticking agents: {self.ticking_agents}.")
        self._validate_acting(actions, acting)
        for agent in acting:
            timing = self.timings[agent]
            when = t + timing.action_delay + self._jitter(timing)
            # in order per agent: a late action never overtakes a newer one
            when = max(when, self._last_apply.get(agent, when))
            self._last_apply[agent] = when
            self.scheduler.schedule(when, self._on_apply, priority=PRIORITY_APPLY,
                                    name=f"apply:{agent}",
                                    payload=(agent, copy.deepcopy(actions[agent])))
        self._ticking = set()
        self.scheduler.run_until(t)  # zero-delay actions take effect now
        env_actions = {a: self._held[a] for a in self.env.agents}
        obs, rewards, terms, truncs, infos = self.env.step(env_actions)
        self._step = t + 1
        self.scheduler.run_until(self._step)  # deliveries, applies, next ticks
        self._record(obs)
        return self._delayed(obs), rewards, terms, truncs, self._annotate(infos)

    def _validate_acting(self, actions: dict[str, Any], acting: list[str]) -> None:
        """Reject a bad action now, with the inner env's own error, before it is queued.

        A delayed action is applied steps later; unchecked, a bad one would only fail
        then, after the schedule moved on, and stay held (failing every later step).
        """
        validate = getattr(self.env, "validate_actions", None)
        if validate is not None and acting:
            validate({**{a: self._held[a] for a in self.env.agents},
                      **{a: actions[a] for a in acting}})

    # -- events --------------------------------------------------------------------
    def _on_tick(self, event: Event) -> None:
        agent = event.payload
        self._ticking.add(agent)
        timing = self.timings[agent]
        self._tick_count[agent] += 1
        # absolute tick times (phase + n * period) so float periods never drift
        nxt = timing.phase + self._tick_count[agent] * self._period[agent]
        self.scheduler.schedule(nxt, self._on_tick, priority=PRIORITY_TICK,
                                name=f"tick:{agent}", payload=agent)

    def _on_apply(self, event: Event) -> None:
        agent, action = event.payload
        self._held[agent] = action

    # -- helpers -------------------------------------------------------------------
    def _default_action(self, agent: str) -> Any:
        if agent in self._default_actions:
            return copy.deepcopy(self._default_actions[agent])
        return default_action_for(self.env.action_space(agent))

    def _jitter(self, timing: AgentTiming) -> int:
        return int(self.np_random.integers(0, timing.jitter + 1)) if timing.jitter else 0

    def _record(self, obs: dict[str, Any]) -> None:
        for agent, o in obs.items():
            timing = self.timings.get(agent, AgentTiming())
            hist = self._obs_hist.setdefault(
                agent, deque(maxlen=timing.obs_delay + timing.jitter + 1))
            if hist.maxlen > 1:  # kept for later: must not alias a buffer the env reuses
                o = copy.deepcopy(o)
            hist.append((self._step, o))

    def _delayed(self, obs: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for agent in obs:
            timing = self.timings.get(agent, AgentTiming())
            hist = self._obs_hist[agent]
            target = self._step - timing.obs_delay - self._jitter(timing)
            # in order: an agent never sees an older measurement than it already saw
            target = max(target, self._obs_step.get(agent, 0))
            chosen_step, chosen = hist[0]
            for step, o in hist:
                if step <= target:
                    chosen_step, chosen = step, o
            self._obs_step[agent] = chosen_step
            out[agent] = chosen
        return out

    def _annotate(self, infos: dict[str, Any]) -> dict[str, Any]:
        """Add ``infos[agent]["timing"]``: which step the observation is from and
        whether the agent's action is accepted next step (so a policy may skip work)."""
        if not self.annotate_infos:
            return infos
        out = dict(infos)
        for agent in self.possible_agents:
            if agent in out and isinstance(out[agent], dict):
                out[agent] = {**out[agent], "timing": {
                    "step": self._step,
                    "obs_step": self._obs_step.get(agent, 0),
                    "acts_next": agent in self._ticking,
                }}
        return out

    def __repr__(self) -> str:
        return f"EventDrivenEnv({self.env!r}, step={self._step})"

"""The host's proxy: one action per agent per tagged step, over an at-least-once wire.

Domain-agnostic: it knows agents by id and their action sizes, nothing of what the
actions mean. :class:`~heron.distributed.host.DistributedHost` builds one and hands it to
the env inside :class:`~heron.envs.execution.RemoteExecution`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from heron.agents.base import inbox_topic
from heron.agents.proxy_agent import PROXY_ID, ProxyAgent
from heron.messaging.base import Message, MessageBroker
from heron.messaging.vocabulary import ACTION, HELLO, STATE_REQUEST, WELCOME

log = logging.getLogger(__name__)


class AgentTimeoutError(TimeoutError):
    """Agents that did not answer in time; ``missing`` names them.

    ``received`` holds the actions that did arrive (already taken off the proxy), so a
    caller that chooses to carry on does not have to ask the agents again.
    """

    def __init__(self, message: str, missing: list[str],
                 received: dict[str, np.ndarray] | None = None) -> None:
        super().__init__(message)
        self.missing = missing
        self.received = received or {}


class BadActionError(AgentTimeoutError):
    """Agents whose answer for the step cannot be applied (NaN, null, wrong length...).

    A subclass of :class:`AgentTimeoutError` because the remedy is the same (the agent
    gave the host nothing usable for this step), so code that copes with a silent agent
    copes with this one. ``bad`` maps each such agent to ``(what arrived, why)``;
    ``missing`` lists every agent without a usable action, bad or silent.
    """

    def __init__(self, message: str, missing: list[str], bad: dict[str, tuple[Any, str]],
                 received: dict[str, np.ndarray] | None = None) -> None:
        super().__init__(message, missing, received)
        self.bad = bad


def short_repr(value: Any, limit: int = 160) -> str:
    """``repr`` for a log line: what arrived, but never a megabyte of it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def action_problem(action: Any, dim: int) -> str | None:
    """Why ``action`` (as decoded from the wire) cannot be applied, or ``None``.

    Checked here, before the env sees it, because the env's own check raises out of
    ``env.step`` and would end the run for one agent's bad value.
    """
    if not isinstance(action, (list, tuple)):
        return f"action must be a list of {dim} numbers, got {type(action).__name__}"
    if len(action) != dim:
        return f"action has {len(action)} values, expected {dim}"
    if any(v is None for v in action):
        return "action holds null (JSON null is not a number)"
    if not all(type(v) in (int, float) for v in action):  # no bools, strings, lists
        return "action holds entries that are not numbers"
    if not np.isfinite(np.asarray(action, dtype=np.float64)).all():
        return "action holds NaN or Infinity"
    return None


class StepSyncProxy(ProxyAgent):
    """A :class:`ProxyAgent` that accepts one action per agent per tagged step.

    The base proxy keeps "the latest action per sender", which is right in-process
    but wrong over an at-least-once wire: a late answer to step ``t`` would be applied
    at ``t+1``, and a re-sent one would count twice. Here every action carries the
    ``(episode, step)`` of the tick it answers; only the first one for the current
    step is kept, the rest are dropped (logged, counted in ``dropped``). Hostile input
    (unknown sender, wrong type, malformed payload) is rejected as by the base class:
    logged and recorded in ``rejected``; it never raises. A correctly tagged answer
    that cannot be applied (:func:`action_problem`) is rejected the same way *and*
    recorded in ``invalid`` for the step: that agent has answered, unusably, and
    :meth:`collect_actions` stops waiting for it.

    Args:
        broker: the shared broker.
        action_dims: ``{agent_id: action length}`` for the agents that act. The host
            fills it in once the env (which registers its agents here) is built.
    """

    def __init__(self, broker: MessageBroker, action_dims: Mapping[str, int] | None = None,
                 agent_id: str = PROXY_ID) -> None:
        super().__init__(broker, agent_id)
        self.action_dims = dict(action_dims or {})
        self.episode: str | None = None
        self.step: int | None = None
        self.ready: set[str] = set()
        self.dropped: list[tuple[str, str]] = []  # (sender, reason): stale or duplicate
        #: this step's unusable answers: {agent: (what arrived, why)}
        self.invalid: dict[str, tuple[Any, str]] = {}
        self._accepted: set[str] = set()  # senders whose answer for this step is in
        self._wait_s = 0.0

    def begin_step(self, episode: str, step: int) -> None:
        """From now on only actions tagged ``(episode, step)`` are accepted."""
        self.episode, self.step = episode, step
        self.received_actions.clear()
        self.invalid.clear()
        self._accepted.clear()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.dropped.clear()
        self.invalid.clear()
        self._accepted.clear()
        self.episode = self.step = None

    # -- intake --------------------------------------------------------------------
    def receive(self, max_messages: int | None = None) -> list[Message]:
        """Inbox messages (waiting up to the current serve window), filtered by step."""
        broker = self._require_broker()
        topic = inbox_topic(self.agent_id)
        msgs = broker.consume(topic, self.agent_id, max_messages=max_messages,
                              timeout_s=self._wait_s)
        if msgs:
            broker.ack(topic, self.agent_id, [m.seq for m in msgs])
        return [m for m in msgs if self._admit(m)]

    def serve_for(self, timeout_s: float) -> int:
        """Like :meth:`serve`, but wait up to ``timeout_s`` for the first message."""
        self._wait_s = max(0.0, timeout_s)
        try:
            return self.serve()
        finally:
            self._wait_s = 0.0

    def _drop(self, msg: Message, reason: str) -> bool:
        self.dropped.append((msg.sender, reason))
        log.info("ProxyAgent dropped action seq=%s from %r: %s", msg.seq, msg.sender, reason)
        return False

    def _admit(self, msg: Message) -> bool:
        """Whether the base ``serve`` should see ``msg`` (it rejects the generic junk)."""
        if msg.sender not in self.known_agents:
            return True  # base serve rejects and logs unknown senders
        if msg.type == HELLO:
            if msg.sender not in self.action_dims:
                return self._reject(msg, "hello from an agent that does not act")
            self.ready.add(msg.sender)
            self.send(msg.sender, WELCOME, {})
            return False
        if msg.type == STATE_REQUEST:
            owners = msg.payload.get("owners", [msg.sender]) if isinstance(msg.payload, dict) \
                else None
            if not isinstance(owners, list) or not all(isinstance(o, str) for o in owners):
                return self._reject(msg, "state_request owners must be a list of agent ids")
            return True
        if msg.type != ACTION or not isinstance(msg.payload, dict):
            return True  # base serve rejects with the precise reason
        if msg.sender not in self.action_dims:
            return self._reject(msg, "action from an agent that does not act")
        episode, step = msg.payload.get("episode"), msg.payload.get("step")
        if type(step) is not int or not isinstance(episode, str):
            return self._reject(msg, "action without an (episode, step) tag")
        if episode != self.episode or step != self.step:
            return self._drop(msg, f"stale action for episode {episode} step {step} "
                                   f"(now episode {self.episode} step {self.step})")
        if msg.sender in self._accepted:  # not received_actions: it may be in this batch
            return self._drop(msg, f"duplicate action for step {step}")
        self._accepted.add(msg.sender)  # its one answer for this step, usable or not
        action = msg.payload.get("action")
        problem = action_problem(action, self.action_dims[msg.sender])
        if problem is not None:
            self.invalid[msg.sender] = (action, problem)
            return self._reject(msg, f"{problem} (episode {episode} step {step}, received "
                                     f"{short_repr(action)}); {msg.sender} counts as silent "
                                     "for this step")
        return True

    # -- collection ----------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], list[str]], timeout_s: float,
                 on_idle: Callable[[list[str]], None] | None = None,
                 idle_every_s: float = 1.0) -> list[str]:
        """Serve until ``predicate()`` (the still-missing agents) is empty or time is up."""
        deadline = time.monotonic() + timeout_s
        next_idle = time.monotonic() + idle_every_s
        while True:
            missing = predicate()
            now = time.monotonic()
            if not missing or now >= deadline:
                return missing
            if on_idle is not None and now >= next_idle:
                on_idle(missing)
                next_idle = now + idle_every_s
            self.serve_for(min(deadline, next_idle) - now)

    def collect_actions(self, expected: list[str], timeout_s: float = 0.0,
                        on_idle: Callable[[list[str]], None] | None = None,
                        idle_every_s: float = 1.0) -> dict[str, np.ndarray]:
        """This step's action from each of ``expected``; waits up to ``timeout_s``.

        Raises :class:`BadActionError` if any of them answered unusably, else
        :class:`AgentTimeoutError` naming the agents still missing.
        """
        self.wait_for(lambda: [a for a in expected
                               if a not in self.received_actions and a not in self.invalid],
                      timeout_s, on_idle, idle_every_s)
        try:
            return super().collect_actions(expected)
        except TimeoutError as exc:
            missing = [a for a in expected if a not in self.received_actions]
            received = {a: self.received_actions.pop(a) for a in expected
                        if a in self.received_actions}
            bad = {a: self.invalid[a] for a in missing if a in self.invalid}
            silent = [a for a in missing if a not in bad]
            where = f"episode {self.episode} step {self.step}"
            if bad:
                what = "; ".join(f"{a} sent {short_repr(v)}: {why}"
                                 for a, (v, why) in bad.items())
                also = (f" No action at all from {silent} within {timeout_s:.1f}s."
                        if silent else "")
                raise BadActionError(
                    f"Unusable action from agent(s) {list(bad)} for {where}: {what}.{also} "
                    "Check those agents' policies (a diverged network produces NaN).",
                    missing, bad, received) from exc
            raise AgentTimeoutError(
                f"No action from agent(s) {missing} for {where} within {timeout_s:.1f}s. "
                "Check that those agent processes are alive and connected to the broker.",
                missing, received) from exc


__all__ = ["AgentTimeoutError", "BadActionError", "StepSyncProxy", "action_problem"]

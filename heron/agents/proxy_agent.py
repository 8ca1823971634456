"""ProxyAgent: the only holder of global state in distributed mode.

In deployment, a microgrid controller cannot read the DSO's SCADA database; it asks
for what it is allowed to see. The proxy answers state requests over the broker,
filtering each owner's features by visibility and by the requester's relation to
the owner, and it collects the actions that agents send back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from heron.agents.base import SYSTEM_LEVEL, Agent, inbox_topic
from heron.core.state import State
from heron.messaging.base import Message, MessageBroker
from heron.messaging.vocabulary import ACTION, STATE_REQUEST, STATE_RESPONSE

log = logging.getLogger(__name__)

PROXY_ID = "proxy"
MAX_PAYLOAD_VALUES = 100_000


def observation_from_states(states: Mapping[str, Mapping[str, Sequence[float]]],
                            owners: Sequence[str]) -> np.ndarray:
    """Flatten a ``state_response`` (``{owner: {feature: values}}``) into one vector.

    One function for the env (in every message-passing mode) and for agent processes,
    so an agent that builds its observation from the wire gets bit for bit what the env
    builds: each owner's visible features in order, as float64, then cast to float32
    once, exactly as :meth:`heron.core.state.State.to_array` followed by the env's cast.
    """
    parts = [np.concatenate([np.asarray(v, dtype=np.float64) for v in states[o].values()])
             if states[o] else np.zeros(0) for o in owners]
    return np.concatenate(parts).astype(np.float32)


class ProxyAgent(Agent):
    level = 0

    def __init__(self, message_broker: MessageBroker, agent_id: str = PROXY_ID) -> None:
        super().__init__(agent_id, message_broker=message_broker)
        self._states: dict[str, State] = {}
        self._levels: dict[str, int] = {}
        self._upstream: dict[str, str | None] = {}
        self.received_actions: dict[str, np.ndarray] = {}
        self.rejected: list[tuple[str, str]] = []  # (sender, reason)

    # -- registry ------------------------------------------------------------------
    def register(self, agent_id: str, level: int, upstream_id: str | None = None,
                 state: State | None = None) -> None:
        self._levels[agent_id] = level
        self._upstream[agent_id] = upstream_id
        if state is not None:
            self._states[agent_id] = state
        self.message_broker.subscribe(inbox_topic(agent_id), agent_id)

    def register_agent(self, agent: Agent) -> None:
        self.register(agent.agent_id, agent.level, agent.upstream_id, agent.state)

    def set_state(self, owner_id: str, state: State) -> None:
        self._require_known(owner_id)
        self._states[owner_id] = state

    @property
    def known_agents(self) -> list[str]:
        return list(self._levels)

    def _require_known(self, agent_id: str) -> None:
        if agent_id not in self._levels:
            raise KeyError(
                f"ProxyAgent: unknown agent {agent_id!r}. Registered: {self.known_agents}."
            )

    # -- visibility ----------------------------------------------------------------
    def relation(self, observer_id: str, owner_id: str) -> str:
        """How ``observer_id`` stands to ``owner_id``: owner/upper_level/system/public."""
        if observer_id == owner_id:
            return "owner"
        up = self._upstream.get(owner_id)
        while up is not None:
            if up == observer_id:
                return "upper_level"
            up = self._upstream.get(up)
        if self._levels.get(observer_id, 0) >= SYSTEM_LEVEL:
            return "system"
        return "public"

    def visible_state(self, observer_id: str, owner_id: str) -> dict[str, list[float]]:
        self._require_known(owner_id)
        state = self._states.get(owner_id)
        if state is None:
            return {}
        rel = self.relation(observer_id, owner_id)
        return {k: v.tolist() for k, v in state.to_dict(rel).items()}

    # -- serving -------------------------------------------------------------------
    def serve(self) -> int:
        """Handle every message in the proxy inbox; returns how many were accepted."""
        handled = 0
        for msg in self.receive():
            reason = self._check(msg)
            if reason is not None:
                self._reject(msg, reason)
                continue
            if msg.type == STATE_REQUEST:
                owners = msg.payload.get("owners", [msg.sender])
                unknown = [o for o in owners if o not in self._levels]
                if unknown:
                    self.rejected.append((msg.sender, f"unknown owner(s) {unknown}"))
                    log.warning("ProxyAgent: %r asked for unknown owner(s) %s", msg.sender, unknown)
                    continue
                payload = {o: self.visible_state(msg.sender, o) for o in owners}
                self.send(msg.sender, STATE_RESPONSE, {"states": payload,
                                                         "request_seq": msg.seq})
            elif msg.type == ACTION:
                self.received_actions[msg.sender] = np.asarray(msg.payload["action"],
                                                               dtype=np.float64)
            handled += 1
        return handled

    def _reject(self, msg: Message, reason: str) -> bool:
        """Record and log a message that is not served; never raises (hostile input must
        not stop the run). Returns ``False`` so a filter can ``return self._reject(...)``."""
        self.rejected.append((msg.sender, reason))
        log.warning("ProxyAgent rejected message seq=%s from %r: %s", msg.seq, msg.sender,
                    reason)
        return False

    def _check(self, msg: Message) -> str | None:
        if msg.sender not in self._levels:
            return f"unknown sender {msg.sender!r}"
        if msg.type not in (STATE_REQUEST, ACTION):
            return f"unknown message type {msg.type!r}"
        if not isinstance(msg.payload, dict):
            return "payload is not a mapping"
        if msg.type == ACTION:
            action = msg.payload.get("action")
            if not isinstance(action, (list, tuple)):
                return "action payload must be a list of numbers"
            if len(action) > MAX_PAYLOAD_VALUES:
                return f"oversized action ({len(action)} values)"
            try:
                arr = np.asarray(action, dtype=np.float64)
            except (TypeError, ValueError):
                return "action payload is not numeric"
            if arr.ndim != 1:
                return "action payload must be a flat list"
        return None

    def collect_actions(self, expected: list[str]) -> dict[str, np.ndarray]:
        """Actions received from ``expected`` agents; raises naming who is missing."""
        self.serve()
        missing = [a for a in expected if a not in self.received_actions]
        if missing:
            raise TimeoutError(
                f"ProxyAgent: no action received from {missing}. "
                "Check that those agent processes are alive and connected to the broker."
            )
        out = {a: self.received_actions.pop(a) for a in expected}
        return out

    def reset(self, seed: int | None = None) -> None:
        self.received_actions.clear()
        self.rejected.clear()


def request_state(agent: Agent, owners: list[str] | None = None) -> int:
    """Ask the proxy for state; the answer arrives as a ``state_response`` message."""
    return agent.send(PROXY_ID, STATE_REQUEST, {"owners": owners or [agent.agent_id]})


def send_action(agent: Agent, action: Any) -> int:
    return agent.send(PROXY_ID, ACTION,
                      {"action": np.asarray(action, dtype=np.float64).ravel().tolist()})

"""Agent base class.

An agent owns a :class:`~heron.core.state.State`, may hold a policy (to act on its
own) and a protocol (to instruct subordinates), and may talk through a message
broker. Levels are integers so that "who is above whom" is a comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heron.core.policies import Policy
from heron.core.state import State
from heron.messaging.base import Message, MessageBroker
from heron.protocols.base import Protocol

FIELD_LEVEL = 1
COORDINATOR_LEVEL = 2
SYSTEM_LEVEL = 3


def inbox_topic(agent_id: str) -> str:
    """Topic on which ``agent_id`` receives messages addressed to it."""
    return f"agent.{agent_id}.inbox"


class Agent:
    level: int = 0

    def __init__(
        self,
        agent_id: str,
        policy: Policy | None = None,
        protocol: Protocol | None = None,
        message_broker: MessageBroker | None = None,
        upstream_id: str | None = None,
        config: dict[str, Any] | None = None,
        level: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not agent_id or not isinstance(agent_id, str):
            raise ValueError(f"agent_id must be a non-empty string, got {agent_id!r}.")
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}({agent_id!r}) got unexpected argument(s): {sorted(kwargs)}."
            )
        self.agent_id = agent_id
        if level is not None:
            self.level = level
        self.policy = policy
        self.protocol = protocol
        self.message_broker = message_broker
        self.upstream_id = upstream_id
        self.config = dict(config or {})
        self.state = State(owner_id=agent_id, owner_level=self.level)
        if message_broker is not None:
            message_broker.subscribe(inbox_topic(agent_id), agent_id)

    # -- RL loop -------------------------------------------------------------------
    def observe(self) -> np.ndarray:
        """Local observation: the agent's own state, as it may see it."""
        return self.state.to_array("owner").astype(np.float32)

    def act(self, observation: Any = None) -> Any:
        if self.policy is None:
            raise RuntimeError(
                f"Agent {self.agent_id!r} has no policy; pass policy=... or supply actions."
            )
        return self.policy.forward(self.observe() if observation is None else observation)

    def reset(self, seed: int | None = None) -> None:
        self.state.reset()
        if self.policy is not None:
            self.policy.reset(seed)
        if self.protocol is not None:
            self.protocol.reset()

    # -- messaging -----------------------------------------------------------------
    def send(self, recipient: str, msg_type: str, payload: dict[str, Any]) -> int:
        broker = self._require_broker()
        return broker.publish(Message(sender=self.agent_id, topic=inbox_topic(recipient),
                                      type=msg_type, payload=payload, recipient=recipient))

    def receive(self, max_messages: int | None = None) -> list[Message]:
        """Messages in this agent's inbox, acknowledged on receipt."""
        broker = self._require_broker()
        topic = inbox_topic(self.agent_id)
        msgs = broker.consume(topic, self.agent_id, max_messages=max_messages)
        if msgs:
            broker.ack(topic, self.agent_id, [m.seq for m in msgs])
        return msgs

    def _require_broker(self) -> MessageBroker:
        if self.message_broker is None:
            raise RuntimeError(
                f"Agent {self.agent_id!r} has no message broker (centralized mode); "
                "construct it with message_broker=..."
            )
        return self.message_broker

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.agent_id!r}, level={self.level})"

"""Coordinators manage subordinate agents through a protocol."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from heron.agents.base import COORDINATOR_LEVEL, Agent
from heron.agents.field_agent import FieldAgent
from heron.core.action import ActionError
from heron.protocols.base import Protocol
from heron.protocols.vertical import SetpointProtocol


def flatten_box_spaces(space_dict: dict[str, spaces.Space]) -> spaces.Box:
    """Concatenate Box spaces; RLlib and most algorithms want one flat Box."""
    boxes = list(space_dict.values())
    for name, s in space_dict.items():
        if not isinstance(s, spaces.Box):
            raise TypeError(f"Cannot flatten action space of {name!r}: {s} is not a Box.")
    if not boxes:
        return spaces.Box(-1.0, 1.0, shape=(0,), dtype=np.float32)
    low = np.concatenate([b.low.ravel() for b in boxes]).astype(np.float32)
    high = np.concatenate([b.high.ravel() for b in boxes]).astype(np.float32)
    return spaces.Box(low=low, high=high, dtype=np.float32)


class CoordinatorAgent(Agent):
    level = COORDINATOR_LEVEL

    def __init__(self, agent_id: str, protocol: Protocol | None = None,
                 subordinate_agents: dict[str, Agent] | None = None, **kwargs: Any) -> None:
        super().__init__(agent_id, protocol=protocol or SetpointProtocol(), **kwargs)
        self.subordinate_agents: dict[str, Agent] = {}
        for agent in (subordinate_agents or {}).values():
            self.add_subordinate(agent)

    def add_subordinate(self, agent: Agent) -> None:
        if agent.agent_id in self.subordinate_agents:
            raise ValueError(
                f"{self.agent_id!r} already has a subordinate named {agent.agent_id!r}; "
                "agent ids must be unique within a coordinator."
            )
        agent.upstream_id = self.agent_id
        self.subordinate_agents[agent.agent_id] = agent

    def get_action_space(self) -> spaces.Space:
        """Structured (Dict) action space, one entry per subordinate."""
        return spaces.Dict({sid: a.get_action_space() for sid, a in self.subordinate_agents.items()})

    def get_flat_action_space(self) -> spaces.Box:
        return flatten_box_spaces(
            {sid: a.get_action_space() for sid, a in self.subordinate_agents.items()}
        )

    def action_layout(self) -> dict[str, int]:
        """Names and sizes of the parts of the flat action, in order.

        One entry per subordinate when the flat action is their concatenation
        (setpoints), else one entry named after the protocol (e.g. a price signal).
        Environments use it to name the device at fault and to accept dict actions.
        """
        dims = {sid: int(np.prod(a.get_action_space().shape))
                for sid, a in self.subordinate_agents.items()}
        flat = int(np.prod(self.get_flat_action_space().shape))
        if getattr(self.protocol, "get_action_space", None) is None and sum(dims.values()) == flat:
            return dims
        return {str(getattr(self.protocol, "name", "action")): flat}

    def coordinate(self, action: Any) -> dict[str, Any]:
        """Split ``action`` with the protocol and apply each share to its subordinate.

        Every share is validated before any is applied: a bad share for the last
        device must not leave the first ones already moved (a generator's start-up
        timer advanced by a rejected action). Errors name this agent and the device.
        """
        if self.protocol is None:
            raise ActionError(problem="no protocol to coordinate with", agent=self.agent_id)
        try:
            per_agent = self.protocol.coordinate(action, self.subordinate_agents)
            checked = {sid: self._check_share(sid, share) for sid, share in per_agent.items()}
        except ActionError as exc:
            raise exc.for_agent(self.agent_id) from None
        for sid, share in checked.items():
            agent = self.subordinate_agents[sid]
            if type(agent).set_action is FieldAgent.set_action:
                agent.apply_action(share)  # set_action = validate + apply; validated above
            elif hasattr(agent, "set_action"):
                agent.set_action(share)
            elif hasattr(agent, "coordinate"):
                agent.coordinate(share)
        return per_agent

    def _check_share(self, sid: str, share: Any) -> Any:
        """A subordinate's validated share (unchanged if it cannot validate itself)."""
        validate = getattr(self.subordinate_agents[sid], "validate_action", None)
        return validate(share) if validate is not None else share

    def observe(self) -> np.ndarray:
        """Own state plus what each subordinate lets its superior see."""
        parts = [a.state.to_array("upper_level") for a in self.subordinate_agents.values()]
        parts.append(self.state.to_array("owner"))
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        for agent in self.subordinate_agents.values():
            agent.reset(seed)

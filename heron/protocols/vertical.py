"""Vertical protocols: a coordinator instructs the agents below it."""

from __future__ import annotations

from typing import Any

import numpy as np

from heron.core.action import ActionError
from heron.protocols.base import Protocol


def _action_dim(agent: Any) -> int:
    space = agent.get_action_space()
    if space.shape is None:
        raise TypeError(f"{getattr(agent, 'agent_id', agent)!r} has a non-Box action space.")
    return int(np.prod(space.shape))


class SetpointProtocol(Protocol):
    """Direct control: slice a flat coordinator action into each subordinate's share.

    Slices follow the subordinates' insertion order, which is also the order of the
    coordinator's flattened action space.
    """

    name = "setpoint"

    def coordinate(self, coordinator_action: Any, subordinates: dict[str, Any]) -> dict[str, Any]:
        if isinstance(coordinator_action, dict):
            unknown = set(coordinator_action) - set(subordinates)
            if unknown:
                raise ActionError(
                    f"Actions for unknown subordinate(s) {sorted(unknown)}; "
                    f"known: {list(subordinates)}."
                )
            return dict(coordinator_action)
        action = np.asarray(coordinator_action, dtype=np.float64).ravel()
        dims = {sid: _action_dim(agent) for sid, agent in subordinates.items()}
        expected = sum(dims.values())
        if action.size != expected:
            raise ActionError(
                f"SetpointProtocol: action has {action.size} values but the subordinates "
                f"need {expected} ({', '.join(f'{k}: {v}' for k, v in dims.items())})."
            )
        out, offset = {}, 0
        for sid, dim in dims.items():
            out[sid] = action[offset:offset + dim]
            offset += dim
        return out


class PriceSignalProtocol(Protocol):
    """Indirect control: broadcast a price; each device chooses its own response.

    The coordinator's action is a price (a scalar, or a normalised value in [-1, 1]
    mapped to ``[price_min, price_max]``). Each subordinate implements
    ``respond_to_price(price) -> action``; that is where the price-response rule
    lives, because only the device knows its own marginal cost.
    """

    name = "price_signal"

    def __init__(self, price_min: float = 0.0, price_max: float = 100.0,
                 normalized: bool = False) -> None:
        if price_max <= price_min:
            raise ValueError("PriceSignalProtocol: price_max must exceed price_min.")
        self.price_min = price_min
        self.price_max = price_max
        self.normalized = normalized
        self.last_price: float | None = None

    def to_price(self, signal: Any) -> float:
        value = float(np.asarray(signal, dtype=np.float64).ravel()[0])
        if not np.isfinite(value):
            raise ActionError(f"PriceSignalProtocol: price signal is not finite ({value}).")
        if self.normalized:
            value = self.price_min + (np.clip(value, -1, 1) + 1) / 2 * (self.price_max - self.price_min)
        return value

    def coordinate(self, coordinator_action: Any, subordinates: dict[str, Any]) -> dict[str, Any]:
        price = self.to_price(coordinator_action)
        self.last_price = price
        out = {}
        for sid, agent in subordinates.items():
            respond = getattr(agent, "respond_to_price", None)
            if respond is None:
                raise TypeError(
                    f"Subordinate {sid!r} ({type(agent).__name__}) cannot take part in "
                    "PriceSignalProtocol: implement respond_to_price(price)."
                )
            out[sid] = respond(price)
        return out

    def get_action_space(self):
        from gymnasium.spaces import Box

        if self.normalized:
            return Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        return Box(self.price_min, self.price_max, shape=(1,), dtype=np.float32)

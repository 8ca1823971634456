"""Vertical protocols: a coordinator instructs the agents below it."""

from __future__ import annotations

from typing import Any

import numpy as np

from heron.core.action import ActionError, nonfinite_message, short_repr, to_real_array
from heron.protocols.base import VerticalProtocol


def _action_dim(agent: Any) -> int:
    space = agent.get_action_space()
    if space.shape is None:
        raise TypeError(f"{getattr(agent, 'agent_id', agent)!r} has a non-Box action space.")
    return int(np.prod(space.shape))


class SetpointProtocol(VerticalProtocol):
    """Direct control: slice a flat coordinator action into each subordinate's share.

    Slices follow the subordinates' insertion order, which is also the order of the
    coordinator's flattened action space.
    """

    name = "setpoint"

    def coordinate(self, coordinator_action: Any, subordinates: dict[str, Any]) -> dict[str, Any]:
        """``{subordinate: its share}``; a dict action must name every subordinate.

        A partial dict used to leave the missing devices on their previous set-point
        without any limit check; now it is an :class:`ActionError` naming them.
        """
        dims = {sid: _action_dim(agent) for sid, agent in subordinates.items()}

        def layout() -> str:
            return ", ".join(f"{k}: {v}" for k, v in dims.items())

        if isinstance(coordinator_action, dict):
            unknown = [k for k in coordinator_action if k not in subordinates]
            missing = [k for k in subordinates if k not in coordinator_action]
            if unknown or missing:
                problem = "; ".join(
                    ([f"actions for unknown subordinate(s) {sorted(map(str, unknown))}"]
                     if unknown else [])
                    + ([f"no action for subordinate(s) {missing}"] if missing else []))
                raise ActionError(problem=f"{problem}; known: {list(subordinates)}",
                                  device=", ".join(map(str, missing or unknown)),
                                  expected=f"a dict with one action per subordinate ({layout()})",
                                  received=short_repr(coordinator_action))
            return dict(coordinator_action)
        expected = sum(dims.values())
        action = to_real_array(coordinator_action,
                               expected=lambda: f"{expected} values ({layout()})").ravel()
        if action.size != expected:
            raise ActionError(
                problem=f"SetpointProtocol: action has {action.size} values but the "
                        f"subordinates need {expected} ({layout()})",
                expected=f"{expected} values ({layout()})", received=short_repr(coordinator_action))
        out, offset = {}, 0
        for sid, dim in dims.items():
            out[sid] = action[offset:offset + dim]
            offset += dim
        return out


class PriceSignalProtocol(VerticalProtocol):
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

    def _expected(self) -> str:
        if self.normalized:
            return (f"one price signal in [-1, 1] (mapped to [{self.price_min:g}, "
                    f"{self.price_max:g}] $/MWh)")
        return f"one price in [{self.price_min:g}, {self.price_max:g}] $/MWh"

    def to_price(self, signal: Any) -> float:
        """The price an action stands for; exactly one finite number is accepted
        (a longer action used to be cut silently to its first entry)."""
        arr = to_real_array(signal, expected=self._expected).ravel()
        if arr.size != 1:
            raise ActionError(problem=f"PriceSignalProtocol: the action is one price signal, "
                                      f"got {arr.size} values", expected=self._expected(),
                              received=short_repr(signal))
        value = float(arr[0])
        if not np.isfinite(value):
            raise ActionError(problem=f"PriceSignalProtocol: price signal is not finite "
                                      f"({value}); {nonfinite_message(arr)}",
                              expected=self._expected(), received=short_repr(signal))
        if self.normalized:
            value = self.price_min + (np.clip(value, -1, 1) + 1) / 2 * (self.price_max - self.price_min)
        return value

    def coordinate(self, coordinator_action: Any, subordinates: dict[str, Any]) -> dict[str, Any]:
        price = self.to_price(coordinator_action)
        out = {}
        for sid, agent in subordinates.items():
            respond = getattr(agent, "respond_to_price", None)
            if respond is None:
                raise TypeError(
                    f"Subordinate {sid!r} ({type(agent).__name__}) cannot take part in "
                    "PriceSignalProtocol: implement respond_to_price(price)."
                )
            out[sid] = respond(price)
        self.last_price = price  # only once the whole signal was accepted
        return out

    def get_action_space(self):
        from gymnasium.spaces import Box

        if self.normalized:
            return Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        return Box(self.price_min, self.price_max, shape=(1,), dtype=np.float32)

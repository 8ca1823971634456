"""Action validation shared by every agent and every environment.

RL libraries occasionally emit NaN (a diverged network), values a little outside
the box (Gaussian sampling) or, through glue code, plain garbage (``None``, strings,
ragged lists, a dict that forgets a device). NaN/inf and garbage must fail loudly,
naming the RL agent and the device, because they would otherwise poison a power flow
silently or keep a device on its previous set-point; finite out-of-range values are
clipped to the action space, as every simulator (and RLlib's own clipping) does.

:class:`ActionError` carries what went wrong as attributes (``agent``, ``device``,
``expected``, ``received``) so that callers (an agent process, a training loop) can
report or drop a bad action without parsing the message.
"""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["ActionError", "ActionKeyError", "describe_box", "short_repr", "to_real_array",
           "nonfinite_message", "validate_box_action"]

_REPR = reprlib.Repr()
_REPR.maxstring = 40
_REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 8
_REPR.maxlevel = 3


def short_repr(obj: Any) -> str:
    """A bounded repr: error messages must stay readable for a 10^6-entry action."""
    if isinstance(obj, np.ndarray):
        return "array(" + np.array2string(obj, threshold=10, edgeitems=3, precision=4,
                                          separator=", ") + f", dtype={obj.dtype})"
    return _REPR.repr(obj)


def describe_box(space: spaces.Box) -> str:
    """``"shape (3,) in [-1, 1]"``: what a caller must send, for error messages."""
    low, high = np.asarray(space.low), np.asarray(space.high)
    if low.size and np.all(low == low.flat[0]) and np.all(high == high.flat[0]):
        rng = f"in [{low.flat[0]:g}, {high.flat[0]:g}]"
    else:
        rng = f"within low={low.tolist()}, high={high.tolist()}"
    return f"shape {space.shape} {rng}"


class ActionError(ValueError):
    """An action is malformed: wrong type or shape, NaN/inf, or missing parts.

    Attributes:
        agent: the RL agent whose action it is (``None`` when no single agent is at
            fault, e.g. ``step()`` was given a list instead of a dict).
        device: the subordinate whose share is at fault (``None``: the whole action).
        expected: what a valid action looks like (shape, range, layout).
        received: a short repr of what came in.
        problem: the reason alone, without agent/device/expected/received.
    """

    def __init__(self, message: str | None = None, *, problem: str | None = None,
                 agent: str | None = None, device: str | None = None,
                 expected: str | None = None, received: str | None = None) -> None:
        self.problem = problem if problem is not None else (message or "invalid action")
        self.agent, self.device = agent, device
        self.expected, self.received = expected, received
        self.message = message if message is not None else self._compose()
        super().__init__(self.message)

    def _compose(self) -> str:
        who = []
        if self.agent is not None:
            who.append(f"agent {self.agent!r}")
        if self.device is not None:
            who.append(f"device {self.device!r}")
        text = f"Invalid action for {', '.join(who)}: " if who else "Invalid action: "
        text += self.problem.rstrip(".") + "."
        if self.expected is not None:
            text += f" Expected {self.expected}."
        if self.received is not None:
            text += f" Received {self.received}."
        return text

    def for_agent(self, agent: str) -> ActionError:
        """The same error, attributed to the RL agent ``agent`` (a coordinator re-raising
        a device's error); an error already naming an agent is returned unchanged."""
        if self.agent is not None:
            return self
        return type(self)(problem=self.problem, agent=agent, device=self.device,
                          expected=self.expected, received=self.received)

    def __str__(self) -> str:  # KeyError (ActionKeyError) would quote the message
        return self.message


class ActionKeyError(ActionError, KeyError):
    """``step()``'s dict has missing or unknown agent ids.

    Also a ``KeyError``: that is what ``step()`` raised for these before, and code
    that catches it keeps working.
    """


def to_real_array(action: Any, *, agent: str | None = None, device: str | None = None,
                  expected: str | Callable[[], str] | None = None) -> np.ndarray:
    """``action`` as a float64 array, or an :class:`ActionError` saying why not.

    Only real numbers are accepted: numpy would turn ``"0.5"`` into 0.5 and ``None``
    into NaN, and both mean the caller sent something it did not intend. ``expected``
    may be a callable so that the happy path does not format a description.
    """
    def fail(problem: str) -> ActionError:
        return ActionError(problem=problem, agent=agent, device=device,
                           expected=expected() if callable(expected) else expected,
                           received=short_repr(action))

    if action is None:
        raise fail("got None instead of an array of numbers")
    if isinstance(action, (str, bytes)):
        raise fail("got a string instead of an array of numbers")
    if isinstance(action, dict):
        raise fail("got a dict instead of an array of numbers")
    try:
        arr = np.asarray(action)
    except (TypeError, ValueError) as exc:  # ragged nesting, unconvertible objects
        raise fail(f"not an array of numbers ({exc.__class__.__name__}: "
                   f"{str(exc).splitlines()[0][:120]})") from None
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O" and all(isinstance(v, numbers.Real) and not isinstance(v, str)
                                     for v in arr.flat):
        try:  # e.g. Python ints beyond int64
            return arr.astype(np.float64)
        except (OverflowError, TypeError, ValueError):
            raise fail("holds numbers that do not fit a float64") from None
    kinds = {"U": "strings", "S": "bytes", "c": "complex numbers", "O": "non-numbers",
             "M": "datetimes", "m": "timedeltas", "V": "structured records"}
    raise fail(f"holds {kinds.get(arr.dtype.kind, arr.dtype.name)}, not real numbers")


def nonfinite_message(arr: np.ndarray) -> str:
    """Where the NaN/inf entries are, for an error message."""
    bad = np.flatnonzero(~np.isfinite(arr.ravel()))
    shown = bad[:8].tolist()
    return (f"contains NaN or inf at entr{'y' if bad.size == 1 else 'ies'} {shown}"
            f"{' ...' if bad.size > 8 else ''}; check the policy output "
            "(a diverged network produces NaN)")


def validate_box_action(action: Any, space: spaces.Box, who: str) -> np.ndarray:
    """Shape-check ``action`` against ``space``, reject NaN/inf, clip to the bounds.

    ``who`` is the device (field agent) the action is for; a coordinator re-raises
    the error with its own id as ``agent`` (:meth:`ActionError.for_agent`).
    """
    arr = to_real_array(action, device=who, expected=lambda: describe_box(space))
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.shape != space.shape:
        if arr.size != int(np.prod(space.shape)):
            raise ActionError(problem=f"has shape {arr.shape}, expected {space.shape}",
                              device=who, expected=describe_box(space),
                              received=short_repr(action))
        arr = arr.reshape(space.shape)
    if not np.isfinite(arr).all():
        raise ActionError(problem=nonfinite_message(arr), device=who,
                          expected=describe_box(space), received=short_repr(arr))
    return np.minimum(np.maximum(arr, space.low), space.high)

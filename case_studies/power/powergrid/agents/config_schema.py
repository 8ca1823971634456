"""Building blocks of the config schema shared by device configs and setup files.

Device config dataclasses (``GeneratorConfig`` ...) and the setup schema
(:mod:`powergrid.setups.schema`) are declared with these types, so a key means
the same thing, with the same default and range, whether a device is built in
Python or read from a ``config.yml``; there is one definition of each.

The types are strict on purpose: YAML turns ``'false'`` into a string and
``bool('false')`` is ``True``, ``.inf`` into a float that then puts NaN into
every observation, and ``'1.5'`` into text that only fails deep in the power
flow. Here each is a config error naming the key. ``int`` is accepted where a
float is expected, and numpy scalars count as the Python numbers they hold.

:func:`describe_errors` turns a pydantic ``ValidationError`` into one line per
problem, ``<key path> <problem>; <fix>``, with "did you mean" suggestions for
misspelt keys.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import numpy as np
from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic import ValidationError as ValidationError  # re-export for callers
from pydantic.dataclasses import dataclass as _pydantic_dataclass

__all__ = [
    "Flag", "Integer", "Name", "NonNegativeInteger", "NonNegativeReal", "PositiveInteger",
    "PositiveFraction", "PositiveReal", "Real", "Text", "UnitInterval", "ValidationError",
    "closest", "describe_errors", "device_config", "raise_problems",
]


def _python_scalar(value: Any) -> Any:
    """numpy scalars (``np.float32(2.0)``, ``np.bool_(True)``) as the Python value they hold."""
    return value.item() if isinstance(value, np.generic) else value


_from_numpy = BeforeValidator(_python_scalar)

#: a finite number (``int`` accepted; no strings, no booleans, no inf/NaN)
Real = Annotated[float, _from_numpy, Strict(), AllowInfNan(False)]
PositiveReal = Annotated[Real, Field(gt=0)]
NonNegativeReal = Annotated[Real, Field(ge=0)]
#: in [0, 1] (a state of charge)
UnitInterval = Annotated[Real, Field(ge=0, le=1)]
#: in (0, 1] (an efficiency, a power factor)
PositiveFraction = Annotated[Real, Field(gt=0, le=1)]
Integer = Annotated[int, _from_numpy, Strict()]
NonNegativeInteger = Annotated[Integer, Field(ge=0)]
PositiveInteger = Annotated[Integer, Field(ge=1)]
#: ``true`` / ``false`` only: a quoted ``'false'`` is a string, not a boolean
Flag = Annotated[bool, _from_numpy, Strict()]
Text = Annotated[str, Strict()]
Name = Annotated[str, Strict(), Field(min_length=1)]

#: unknown keys are errors at every level
FORBID_EXTRA = ConfigDict(extra="forbid")


def device_config(cls: type) -> type:
    """Declare a device config: a (pydantic) dataclass that rejects unknown keys.

    It stays a dataclass (``dataclasses.fields`` works, attributes can be set), and
    it validates types, ranges and its own cross-field rules on construction.
    """
    return _pydantic_dataclass(cls, config=FORBID_EXTRA)


def raise_problems(problems: Sequence[str]) -> None:
    """Raise the cross-field problems of one config as a single error (pydantic runs
    one ``model_validator`` at a time, so they are joined, not dropped)."""
    if problems:
        raise ValueError("; ".join(problems))


def closest(word: str, choices: Sequence[str]) -> str | None:
    """The choice ``word`` most likely misspells, if any is close."""
    hits = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return hits[0] if hits else None


# -- error messages ---------------------------------------------------------------------
def _strip(tp: Any) -> Any:
    """The type under ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            arms = [a for a in get_args(tp) if a is not type(None)]
            if len(arms) != 1:
                return tp
            tp = arms[0]
        else:
            return tp


def _fields(tp: Any) -> dict[str, Any] | None:
    """``{field name: annotation}`` of a pydantic model or dataclass, else None."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {name: f.annotation for name, f in tp.model_fields.items()}
    fields = getattr(tp, "__pydantic_fields__", None)
    if isinstance(fields, Mapping):
        return {name: f.annotation for name, f in fields.items()}
    return None


def _type_at(root: Any, loc: Sequence[Any]) -> Any:
    """The schema type at ``loc`` below ``root`` (None where the path leaves the schema)."""
    tp = root
    for part in loc:
        tp = _strip(tp)
        fields = _fields(tp)
        if fields is not None:
            if part not in fields:
                return None
            tp = fields[part]
            continue
        origin, args = get_origin(tp), get_args(tp)
        if origin is tuple and args and isinstance(part, int):
            tp = args[0] if (len(args) == 2 and args[1] is Ellipsis) else args[min(part, len(args) - 1)]
        elif origin in (list, Sequence) and args:
            tp = args[0]
        elif origin in (dict, Mapping) and len(args) == 2:
            tp = args[1]
        else:
            return None
    return _strip(tp)


def key_path(prefix: str, loc: Sequence[Any]) -> str:
    """``microgrid_configs[1].devices[0].device_state_config.e_capacity_MWh``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _got(value: Any, unquote: bool = False) -> str:
    """``got ...``; with ``unquote``, the advice for a number or boolean written in quotes."""
    kind = type(value).__name__
    if isinstance(value, str):
        return f"got the string {_shown(value)}" + ("; write it without quotes" if unquote else "")
    if isinstance(value, (Mapping, list, tuple)):
        return f"got a {kind} {_shown(value)}"
    return f"got {_shown(value)}"


def _bound(ctx: Mapping[str, Any]) -> str:
    if ctx.get("gt") == 0:
        return "positive (> 0)"
    if ctx.get("ge") == 0:
        return "non-negative (>= 0)"
    for key, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if key in ctx:
            return f"{sign} {ctx[key]}"
    return "in range"


def describe_error(error: Mapping[str, Any], root: Any, prefix: str = "") -> str:
    """One pydantic error as ``<key path> <problem>; <fix>``."""
    kind, loc = error["type"], tuple(error["loc"])
    value, ctx = error.get("input"), error.get("ctx") or {}
    if len(loc) >= 2 and loc[-1] == "[key]":  # a mapping's key, not its value
        return f"{key_path(prefix, loc[:-2])}: key {loc[-2]!r} must be a string"
    path = key_path(prefix, loc)
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        known = sorted(_fields(_type_at(root, loc[:-1])) or ())
        guess = closest(str(loc[-1]), known)
        hint = f"did you mean {guess!r}? Valid keys: {known}" if guess else f"valid keys: {known}"
        return f"{path}: unknown key; {hint}"
    if kind == "missing":
        if loc and isinstance(loc[-1], int):
            return f"{key_path(prefix, loc[:-1])} has too few items: item [{loc[-1]}] is missing"
        return f"{path} is required; add it"
    if kind == "bool_type":
        hint = "; write true or false, without quotes" if isinstance(value, str) else ""
        return f"{path} must be true or false, {_got(value)}{hint}"
    if kind in ("int_type", "int_from_float"):
        return f"{path} must be an integer, {_got(value, unquote=True)}"
    if kind == "float_type":
        return f"{path} must be a number, {_got(value, unquote=True)}"
    if kind == "finite_number":
        return f"{path} must be a finite number, got {_shown(value)}; .inf and .nan are not values"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{path} must be {_bound(ctx)}, got {_shown(value)}"
    if kind == "string_type":
        quote = "; quote it, e.g. \"Bus 633\"" if isinstance(value, (int, float)) else ""
        return f"{path} must be a string, {_got(value)}{quote}"
    if kind == "string_too_short":
        return f"{path} must not be empty"
    if kind in ("dict_type", "model_type", "model_attributes_type", "dataclass_type",
                "dataclass_args_type", "mapping_type"):
        return f"{path} must be a mapping (key: value), {_got(value)}"
    if kind in ("list_type", "tuple_type", "sequence_type", "iterable_type"):
        return f"{path} must be a list, {_got(value)}"
    if kind in ("too_short", "too_long"):
        want = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"{path} must have {word} {want} item(s), got {ctx.get('actual_length')}"
    message = str(error.get("msg", ""))
    if kind in ("value_error", "assertion_error"):
        message = message.split(", ", 1)[1] if ", " in message else message
    return f"{path}: {message}" if path else message


def describe_errors(exc: ValidationError, root: Any, prefix: str = "") -> list[str]:
    """Every problem of ``exc`` (raised validating against ``root``), one line each."""
    return [describe_error(e, root, prefix) for e in exc.errors(include_url=False)]

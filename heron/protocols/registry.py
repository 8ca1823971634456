"""Protocols by name, so configs and CLIs can say ``protocol: p2p``.

Domain packages add their own protocols with :func:`register_protocol` rather than
editing this file, which keeps ``heron`` free of domain imports.

Each registered class carries its kind (``cls.kind``, :data:`~heron.protocols.base.VERTICAL`
or :data:`~heron.protocols.base.HORIZONTAL`), so a caller that can only use one kind
(a coordinator needs ``coordinate``) asks for it: :func:`protocol_names` lists the
names of a kind and ``make_protocol(name, kind=...)`` refuses a protocol of another
kind, naming the valid ones, instead of every caller keeping its own list.
"""

from __future__ import annotations

import difflib
from typing import Any

from heron.protocols.base import PROTOCOL_KINDS, Protocol
from heron.protocols.horizontal import ConsensusProtocol, P2PTradingProtocol
from heron.protocols.vertical import PriceSignalProtocol, SetpointProtocol

PROTOCOL_REGISTRY: dict[str, type[Protocol]] = {
    "setpoint": SetpointProtocol,
    "price_signal": PriceSignalProtocol,
    "p2p": P2PTradingProtocol,
    "consensus": ConsensusProtocol,
}


def register_protocol(name: str, cls: type[Protocol], overwrite: bool = False) -> None:
    """Make ``cls`` available to :func:`make_protocol` as ``name``.

    Refuses to replace an existing name unless ``overwrite=True``, because a silent
    replacement would change what every config using that name builds.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_protocol: name must be a non-empty string, got {name!r}.")
    if not (isinstance(cls, type) and issubclass(cls, Protocol)):
        raise TypeError(f"register_protocol: {cls!r} is not a Protocol subclass.")
    if getattr(cls, "kind", None) not in PROTOCOL_KINDS:
        raise TypeError(
            f"register_protocol: {cls.__name__}.kind is {getattr(cls, 'kind', None)!r}; "
            f"must be one of {', '.join(PROTOCOL_KINDS)}."
        )
    if name in PROTOCOL_REGISTRY and PROTOCOL_REGISTRY[name] is not cls and not overwrite:
        raise ValueError(
            f"register_protocol: {name!r} is already {PROTOCOL_REGISTRY[name].__name__}; "
            "pass overwrite=True to replace it."
        )
    PROTOCOL_REGISTRY[name] = cls


def _check_kind(kind: str | None, where: str) -> None:
    if kind is not None and kind not in PROTOCOL_KINDS:
        raise ValueError(
            f"{where}: unknown protocol kind {kind!r}; valid kinds: {', '.join(PROTOCOL_KINDS)}."
        )


def protocol_names(kind: str | None = None) -> list[str]:
    """Sorted registered names; only those of ``kind`` (``"vertical"`` or
    ``"horizontal"``) when given. Read at call time, so later registrations count."""
    _check_kind(kind, "protocol_names")
    return sorted(n for n, cls in PROTOCOL_REGISTRY.items() if kind is None or cls.kind == kind)


def make_protocol(name: str, *, kind: str | None = None, **kwargs: Any) -> Protocol:
    """Instantiate the protocol registered as ``name`` with ``kwargs``.

    ``kind``: when given, only a protocol of that kind is accepted (a coordinator
    passes ``kind="vertical"``).

    Raises:
        ValueError: unknown name (the message lists the valid names, of ``kind``
            when given), a protocol of another kind than ``kind`` (the message names
            its kind and the valid names of ``kind``), or an unknown ``kind``.
        TypeError: ``kwargs`` the protocol does not accept; the message names it.
    """
    _check_kind(kind, "make_protocol")
    cls = PROTOCOL_REGISTRY.get(name) if isinstance(name, str) else None
    valid = protocol_names(kind)
    of_kind = f"valid {kind} names" if kind is not None else "valid names"
    if cls is None:
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown protocol {name!r}; {of_kind}: {', '.join(valid)}.{hint}")
    if kind is not None and cls.kind != kind:
        raise ValueError(
            f"Protocol {name!r} ({cls.__name__}) is {cls.kind}, not {kind}; "
            f"{of_kind}: {', '.join(valid) or '(none registered)'}."
        )
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TypeError(f"make_protocol({name!r}): bad arguments for {cls.__name__}: {exc}") from exc

"""Protocols by name, so configs and CLIs can say ``protocol: p2p``.

Domain packages add their own protocols with :func:`register_protocol` rather than
editing this file, which keeps ``heron`` free of domain imports.
"""

from __future__ import annotations

import difflib
from typing import Any

from heron.protocols.base import Protocol
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
    if name in PROTOCOL_REGISTRY and PROTOCOL_REGISTRY[name] is not cls and not overwrite:
        raise ValueError(
            f"register_protocol: {name!r} is already {PROTOCOL_REGISTRY[name].__name__}; "
            "pass overwrite=True to replace it."
        )
    PROTOCOL_REGISTRY[name] = cls


def make_protocol(name: str, **kwargs: Any) -> Protocol:
    """Instantiate the protocol registered as ``name`` with ``kwargs``.

    Raises:
        ValueError: unknown name; the message lists the valid names.
        TypeError: ``kwargs`` the protocol does not accept; the message names it.
    """
    cls = PROTOCOL_REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        valid = sorted(PROTOCOL_REGISTRY)
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown protocol {name!r}; valid names: {', '.join(valid)}.{hint}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TypeError(f"make_protocol({name!r}): bad arguments for {cls.__name__}: {exc}") from exc

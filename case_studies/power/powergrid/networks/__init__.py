"""Balanced pandapower models of the IEEE PES distribution test feeders.

Builders for the IEEE 13-, 34- and 123-node test feeders, carried over from the
OpenDSS test cases of the feeders (EPRI, BSD-style licence; feeders published by
the IEEE PES Distribution System Analysis Subcommittee), plus
:func:`connect_microgrid` to couple microgrid nets to a DSO net.

The project's power flows (pandapower, lightsim2grid) are positive-sequence, so
every feeder is a balanced equivalent: see :mod:`._linecodes` for the line
reduction and :mod:`._builder` for the common modelling rules; each feeder module
documents its own data and the accuracy reached against the published results.
"""

from __future__ import annotations

from collections.abc import Callable

import pandapower as pp

from ._builder import initial_voltages
from .connect import connect_microgrid
from .ieee13 import IEEE13Bus
from .ieee34 import IEEE34Bus
from .ieee123 import IEEE123Bus

#: feeder kind -> builder, as accepted by :func:`get_network`
NETWORKS: dict[str, Callable[[str], pp.pandapowerNet]] = {
    "ieee13": IEEE13Bus,
    "ieee34": IEEE34Bus,
    "ieee123": IEEE123Bus,
}


def get_network(kind: str, name: str = "") -> pp.pandapowerNet:
    """Build the feeder ``kind`` ("ieee13", "ieee34" or "ieee123") named ``name``.

    Raises:
        ValueError: unknown ``kind``; the message names the valid kinds.
    """
    try:
        builder = NETWORKS[kind]
    except KeyError:
        raise ValueError(
            f"unknown network kind {kind!r}; valid kinds: {', '.join(sorted(NETWORKS))}"
        ) from None
    return builder(name)


__all__ = [
    "IEEE13Bus",
    "IEEE34Bus",
    "IEEE123Bus",
    "NETWORKS",
    "connect_microgrid",
    "get_network",
    "initial_voltages",
]

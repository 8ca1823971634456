"""The ``protocol:`` names :class:`~powergrid.envs.multi_agent_microgrids.MultiAgentMicrogrids`
accepts, written once (the env, the setup schema and the training CLI all ask here).

A microgrid's devices are dispatched by a *vertical* protocol: every name heron's
registry lists with ``kind="vertical"`` (``setpoint``, ``price_signal`` and any
protocol registered with :func:`heron.protocols.register_protocol`). ``p2p`` is the
env's own market *between* microgrids (:mod:`powergrid.market.p2p`; their devices
then get setpoints). Other horizontal protocols (``consensus``) cannot dispatch
devices and are refused.
"""

from __future__ import annotations

from heron.protocols import VERTICAL, protocol_names

#: the env's market between microgrids; devices keep setpoints
MARKET_PROTOCOL = "p2p"


def accepted_protocols() -> list[str]:
    """Sorted names valid as ``protocol:``; read at call time, so a protocol
    registered after import counts."""
    return sorted({*protocol_names(kind=VERTICAL), MARKET_PROTOCOL})

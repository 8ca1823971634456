"""Deploy MultiAgentMicrogrids with every microgrid controller in its own OS process.

The machinery is heron's (:mod:`heron.distributed`: the step-synchronised host, the
proxy, the agent loop, the launcher and the protocol, documented there); this package
keeps only the power case study's entry points:

* :class:`~powergrid.distributed.runner.DistributedEnvHost`: a
  :class:`~heron.distributed.host.DistributedHost` built from a setup's ``env_config``
  (``message_broker: redis`` and ``redis_url``), stepping ``MultiAgentMicrogrids``;
* ``python -m powergrid.distributed.runner``: host + one process per microgrid;
* ``python -m powergrid.distributed.agent_process``: one controller, started by hand.

See docs/distributed.md. The heron names are re-exported here so existing imports keep
working; this module stays import-light (agent processes may import it first), and the
host, which pulls in the power-flow stack, loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heron.distributed.launch import REDIS_URL_ENV, AgentProcess, launch_agents
from heron.distributed.proxy import AgentTimeoutError, BadActionError, StepSyncProxy
from heron.messaging.auth import RUN_SECRET_ENV
from heron.messaging.vocabulary import (
    ACTION,
    HELLO,
    SHUTDOWN,
    STATE_REQUEST,
    STATE_RESPONSE,
    TICK,
    WELCOME,
)

__all__ = [
    "ACTION",
    "AgentProcess",
    "AgentTimeoutError",
    "BadActionError",
    "DistributedEnvHost",
    "EpisodeResult",
    "HELLO",
    "REDIS_URL_ENV",
    "RUN_SECRET_ENV",
    "SHUTDOWN",
    "STATE_REQUEST",
    "STATE_RESPONSE",
    "StepSyncProxy",
    "TICK",
    "WELCOME",
    "launch_agents",
]

if TYPE_CHECKING:  # pragma: no cover
    from heron.distributed.host import EpisodeResult
    from powergrid.distributed.runner import DistributedEnvHost


def __getattr__(name: str) -> Any:
    # the host side pulls in the power-flow stack; load it only when asked for
    if name == "DistributedEnvHost":
        from powergrid.distributed.runner import DistributedEnvHost

        return DistributedEnvHost
    if name == "EpisodeResult":
        from heron.distributed.host import EpisodeResult

        return EpisodeResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Deploy MultiAgentMicrogrids with every microgrid controller in its own OS process.

The machinery is heron's (:mod:`heron.distributed`: the step-synchronised host, the
proxy, the agent loop, the launcher and the protocol, documented there); this package
keeps only the power case study's entry points:

* :class:`~powergrid.distributed.runner.DistributedEnvHost`: a
  :class:`~heron.distributed.host.DistributedHost` built from a setup's ``env_config``
  (``message_broker: redis`` and ``redis_url``), stepping ``MultiAgentMicrogrids``;
* ``python -m powergrid.distributed.runner``: host + one process per microgrid;
* ``python -m powergrid.distributed.agent_process``: one controller, started by hand.

See docs/distributed.md. The heron classes are re-exported here so existing imports keep
working (the message types live only in :mod:`heron.messaging.vocabulary`); this module
stays import-light, and the host, which pulls in the power-flow stack, loads on first
use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heron.distributed.host import EpisodeResult
from heron.distributed.launch import REDIS_URL_ENV, AgentProcess, launch_agents
from heron.distributed.proxy import AgentTimeoutError, BadActionError, StepSyncProxy
from heron.messaging.auth import RUN_SECRET_ENV

__all__ = [
    "AgentProcess",
    "AgentTimeoutError",
    "BadActionError",
    "DistributedEnvHost",
    "EpisodeResult",
    "REDIS_URL_ENV",
    "RUN_SECRET_ENV",
    "StepSyncProxy",
    "launch_agents",
]

if TYPE_CHECKING:  # pragma: no cover
    from powergrid.distributed.runner import DistributedEnvHost


def __getattr__(name: str) -> Any:
    # the host side pulls in the power-flow stack; load it only when asked for
    if name == "DistributedEnvHost":
        from powergrid.distributed.runner import DistributedEnvHost

        return DistributedEnvHost
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

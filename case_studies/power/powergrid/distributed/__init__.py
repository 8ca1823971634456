"""Deploy NetworkedGridEnv with every microgrid controller in its own OS process.

The environment side (:class:`~powergrid.distributed.runner.DistributedEnvHost`) runs
the physics and the :class:`~heron.agents.proxy_agent.ProxyAgent`, the only holder of
network state. Each controller runs ``python -m powergrid.distributed.agent_process``
and talks to the host only through the message broker (Redis), exactly as a field
controller would talk to a DSO's SCADA gateway. See docs/distributed.md.

Step synchronisation protocol (all messages go to the recipient's inbox topic
``agent.<id>.inbox``; the host speaks as the proxy, ``sender="proxy"``):

========================  ==========================================================
agent -> proxy            payload
========================  ==========================================================
``hello``                 ``{pid}``: the process is up (repeated until the proxy speaks)
``state_request``         ``{owners, episode, step}``: asks for this tick's state
``action``                ``{action, episode, step}``: the action for that tick
========================  ==========================================================

========================  ==========================================================
proxy -> agent            payload
========================  ==========================================================
``welcome``               ``{}``: answer to ``hello``
``tick``                  ``{episode, step, owners, action_low, action_high}``: act now
``state_response``        ``{states, request_seq}``: answer to one ``state_request``
``shutdown``              ``{reason}``: exit cleanly
========================  ==========================================================

A tick is self-contained (owners and action bounds included) so an agent process that
restarts mid-episode can rejoin at the next tick. The host accepts exactly one answer
per agent per ``(episode, step)``: late, early and duplicate actions are dropped by their
tag, which is what makes at-least-once delivery and re-sent ticks safe. An answer that
cannot be applied (NaN, null, Infinity, wrong length, not numbers) counts as no answer
for that step (the host's ``on_missing`` policy decides what happens).

Every message is signed (:class:`heron.messaging.auth.SignedBroker`, HMAC-SHA256 keyed
by a per-run secret). The host makes the secret; processes it launches get it, and the
Redis URL with its password, in the environment (:data:`RUN_SECRET_ENV`,
:data:`REDIS_URL_ENV`), never on their command line. Unsigned, wrongly signed and
replayed messages are dropped, logged and counted on both sides.

This module stays import-light on purpose: agent processes import it first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heron.messaging.auth import RUN_SECRET_ENV  # stdlib-only: keeps this module light
from heron.messaging.vocabulary import (  # one message vocabulary, defined in heron
    ACTION,
    HELLO,
    SHUTDOWN,
    STATE_REQUEST,
    STATE_RESPONSE,
    TICK,
    WELCOME,
)

#: the environment variable that hands agent processes the Redis URL (with its password)
REDIS_URL_ENV = "HERON_REDIS_URL"

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
    from powergrid.distributed.runner import (
        AgentProcess,
        AgentTimeoutError,
        BadActionError,
        DistributedEnvHost,
        EpisodeResult,
        StepSyncProxy,
        launch_agents,
    )


def __getattr__(name: str) -> Any:
    # the host side pulls in the power-flow stack; load it only when asked for
    if name in {"AgentProcess", "AgentTimeoutError", "BadActionError", "DistributedEnvHost",
                "EpisodeResult", "StepSyncProxy", "launch_agents"}:
        from powergrid.distributed import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

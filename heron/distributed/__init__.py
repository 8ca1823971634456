"""Run any heron env with every agent in its own OS process (or thread), step by step.

The environment side (:class:`~heron.distributed.host.DistributedHost`) runs the
physics and a :class:`~heron.distributed.proxy.StepSyncProxy`, the only holder of
state; it builds the env with a factory, handing it
:class:`~heron.envs.execution.RemoteExecution`. Each agent runs an
:class:`~heron.distributed.agent.AgentLoop` (``python -m heron.distributed.agent``, or
a thread of the host's process on an in-memory broker) and talks to the host only
through the message broker, exactly as a field controller would talk to a SCADA
gateway. Nothing here knows a domain: a domain adds only its entry points (the power
case study's ``powergrid.distributed``). See docs/distributed.md.

Step synchronisation protocol (all messages go to the recipient's inbox topic
``agent.<id>.inbox``; the host speaks as the proxy, ``sender="proxy"``; the type names
are :mod:`heron.messaging.vocabulary`):

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
``tick``                  ``{episode, step, owners, action_low, action_high, obs_dim}``:
                          act now
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
Redis URL with its password, in the environment (``HERON_RUN_SECRET``,
``HERON_REDIS_URL``), never on their command line. Unsigned, wrongly signed and
replayed messages are dropped, logged and counted on both sides.

The names below load on first use, so ``python -m heron.distributed.agent`` imports only
what an agent needs (and the package never imports its own entry point twice).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from heron.distributed.agent import AgentLoop, AgentThread, ReplayPolicy, make_policy
    from heron.distributed.host import DistributedHost, EnvFactory, EpisodeResult
    from heron.distributed.launch import (
        AGENT_MODULE,
        DEFAULT_REDIS_URL,
        REDIS_URL_ENV,
        AgentProcess,
        launch_agents,
    )
    from heron.distributed.proxy import (
        AgentTimeoutError,
        BadActionError,
        StepSyncProxy,
        action_problem,
    )

_HOME = {
    "AgentLoop": "agent", "AgentThread": "agent", "ReplayPolicy": "agent",
    "make_policy": "agent",
    "DistributedHost": "host", "EnvFactory": "host", "EpisodeResult": "host",
    "AGENT_MODULE": "launch", "DEFAULT_REDIS_URL": "launch", "REDIS_URL_ENV": "launch",
    "AgentProcess": "launch", "launch_agents": "launch",
    "AgentTimeoutError": "proxy", "BadActionError": "proxy", "StepSyncProxy": "proxy",
    "action_problem": "proxy",
}

__all__ = [
    "AGENT_MODULE",
    "AgentLoop",
    "AgentProcess",
    "AgentThread",
    "AgentTimeoutError",
    "BadActionError",
    "DEFAULT_REDIS_URL",
    "DistributedHost",
    "EnvFactory",
    "EpisodeResult",
    "REDIS_URL_ENV",
    "ReplayPolicy",
    "StepSyncProxy",
    "action_problem",
    "launch_agents",
    "make_policy",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

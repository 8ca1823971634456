"""Execution modes: how a step's actions reach the agents and how observations come back.

The env's step is the same in every mode; what differs is only the route the actions
and the observations take. Each mode is a small strategy object the env holds as
``env.execution``, so :meth:`HeronParallelEnv._apply_actions` and
:meth:`HeronParallelEnv._observe` are straight-line code with no mode branches:

``deliver(actions)``
    returns the actions as they arrive at the agents (the env then applies them);
``observe(agent_id)``
    returns the agent's observation as it arrives at the agent.

=========================  ==================================================================
mode                       route
=========================  ==================================================================
:class:`DirectExecution`   ``centralized: true`` (default): agents read and write the
                           domain's objects directly. Fast; what training uses.
:class:`ProxyExecution`    ``centralized: false``: every action is a message to a
                           :class:`~heron.agents.proxy_agent.ProxyAgent`, the only holder of
                           state, and every observation a ``state_request`` /
                           ``state_response`` exchange filtered by visibility, over the
                           configured broker (``message_broker``, ``redis_url``), in this
                           process.
:class:`RemoteExecution`   the agents run in other processes
                           (:class:`heron.distributed.DistributedHost`): the host has
                           already collected their actions over the wire, step-synchronised,
                           before ``env.step``; each agent fetched its own observation from
                           the proxy, and the env's copy is the proxy's same answer.
=========================  ==================================================================

With zero delays the three give bit-identical trajectories for the same seed and
actions (observations go through :func:`~heron.agents.proxy_agent.observation_from_states`,
which reproduces the direct flattening exactly).

The mode is chosen by the config (:func:`execution_from_config`) or passed to the env
(``MyEnv(config, execution=mode)``), which is how the distributed host selects
:class:`RemoteExecution`: there is no config flag for it, because a config cannot hand
the env the host's proxy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from heron.agents.base import Agent, inbox_topic
from heron.agents.proxy_agent import (
    ProxyAgent,
    observation_from_states,
    request_state,
    send_action,
)
from heron.messaging.base import MessageBroker, make_broker
from heron.messaging.vocabulary import STATE_RESPONSE

if TYPE_CHECKING:  # pragma: no cover
    from heron.envs.base import HeronParallelEnv


class ExecutionMode(ABC):
    """The strategy interface; see the module docstring.

    A mode is bound to one env by :meth:`attach`, which the env calls once its agents
    exist (at the start of ``_init_spaces``). ``broker`` and ``proxy`` are ``None`` for
    a mode that passes no messages.
    """

    #: whether agents touch the domain's objects directly (no messages)
    centralized: bool = False
    broker: MessageBroker | None = None
    proxy: ProxyAgent | None = None

    def __init__(self) -> None:
        self._env: HeronParallelEnv | None = None

    @property
    def env(self) -> HeronParallelEnv:
        if self._env is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to an env; the env "
                               "attaches its execution mode in _init_spaces(), after "
                               "building its agents.")
        return self._env

    def attach(self, env: HeronParallelEnv) -> None:
        """Bind to ``env``; one mode object serves one env (its proxy holds that env's
        registry), so attaching a second env is an error."""
        if self._env is not None and self._env is not env:
            raise RuntimeError(f"This {type(self).__name__} already serves another env; build "
                               "one execution mode per env.")
        self._env = env

    @abstractmethod
    def deliver(self, actions: Mapping[str, Any]) -> Mapping[str, Any]:
        """This step's actions as the agents receive them (already validated by the env)."""

    @abstractmethod
    def observe(self, agent_id: str) -> np.ndarray:
        """``agent_id``'s native observation, as it reaches the agent."""

    def reset(self) -> None:
        """Forget the last episode's traffic (the env calls it on every reset)."""
        if self.broker is not None:
            self.broker.reset()
        if self.proxy is not None:
            self.proxy.reset()

    def close(self) -> None:
        """Release the broker's connections (the env's ``close``)."""
        if self.broker is not None:
            self.broker.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(broker={self.broker!r})"


class DirectExecution(ExecutionMode):
    """``centralized: true``: no messages; agents act and observe in place."""

    centralized = True

    def deliver(self, actions: Mapping[str, Any]) -> Mapping[str, Any]:
        return actions

    def observe(self, agent_id: str) -> np.ndarray:
        return self.env.local_observation(agent_id)


def registered_agents(env: HeronParallelEnv) -> Iterator[Agent]:
    """The env's agents and, depth first, their subordinates: whom a proxy must know
    (an observer's relation to an owner is read from this registry)."""
    def walk(agent: Agent) -> Iterator[Agent]:
        yield agent
        for sub in getattr(agent, "subordinate_agents", {}).values():
            yield from walk(sub)

    for agent in env.agent_dict.values():
        yield from walk(agent)


def _register(proxy: ProxyAgent, env: HeronParallelEnv) -> None:
    for agent in registered_agents(env):
        proxy.register_agent(agent)


class ProxyExecution(ExecutionMode):
    """``centralized: false``: actions and observations travel as messages, in process.

    Each acting agent sends its action to the proxy, which collects them back; each
    observation is the agent's own ``state_request`` answered by the proxy. Agents
    built without a broker (a domain that never thought about messaging) are connected
    to this mode's broker when it attaches; one built with another broker is an error,
    since the proxy would never hear it.

    Args:
        broker: the transport (``InMemoryBroker``, or a ``RedisBroker`` for the same
            messages over a real server).
    """

    def __init__(self, broker: MessageBroker) -> None:
        super().__init__()
        self.broker = broker
        self.proxy = ProxyAgent(broker)

    def attach(self, env: HeronParallelEnv) -> None:
        super().attach(env)
        for agent_id, agent in env.agent_dict.items():
            if agent.message_broker is None:
                agent.message_broker = self.broker
                self.broker.subscribe(inbox_topic(agent_id), agent_id)
            elif agent.message_broker is not self.broker:
                raise ValueError(
                    f"Agent {agent_id!r} talks through {agent.message_broker!r}, not this "
                    f"ProxyExecution's broker {self.broker!r}: the proxy would never hear it. "
                    "Build the env's agents with message_broker=env.execution.broker (or "
                    "without one; the mode connects them).")
        _register(self.proxy, env)

    def deliver(self, actions: Mapping[str, Any]) -> Mapping[str, Any]:
        live = list(self.env.agents)
        for agent_id in live:
            send_action(self.env.agent_dict[agent_id], actions[agent_id])
        return self.proxy.collect_actions(live)

    def observe(self, agent_id: str) -> np.ndarray:
        agent = self.env.agent_dict[agent_id]
        owners = self.env.observation_owners(agent_id)
        request_state(agent, owners)
        self.proxy.serve()
        answers = [m for m in agent.receive() if m.type == STATE_RESPONSE]
        if not answers:
            why = self.proxy.rejected[-1][1] if self.proxy.rejected else "no reason recorded"
            raise TimeoutError(
                f"No state_response from the proxy for {agent_id!r} (last rejection: {why}). "
                f"Every owner in observation_owners({agent_id!r}) = {owners} must be one of "
                "the env's agents or their subordinates, which the proxy registers.")
        return observation_from_states(answers[-1].payload["states"], owners)


class RemoteExecution(ExecutionMode):
    """The agents run elsewhere and talk to ``proxy`` over its broker.

    :class:`heron.distributed.DistributedHost` builds the env with this mode: it
    collects every agent's action for the step (tagged, one per agent) before calling
    ``env.step``, so :meth:`deliver` passes them through; each agent builds its own
    observation from the proxy's ``state_response``, so :meth:`observe` returns the
    proxy's same answer, read in place. The proxy holds the only registry: the env
    registers its agents with it on attach.
    """

    def __init__(self, proxy: ProxyAgent) -> None:
        super().__init__()
        self.proxy = proxy
        self.broker = proxy.message_broker

    def attach(self, env: HeronParallelEnv) -> None:
        super().attach(env)
        _register(self.proxy, env)

    def deliver(self, actions: Mapping[str, Any]) -> Mapping[str, Any]:
        return actions

    def observe(self, agent_id: str) -> np.ndarray:
        owners = self.env.observation_owners(agent_id)
        return observation_from_states(
            {o: self.proxy.visible_state(agent_id, o) for o in owners}, owners)


def execution_from_config(env_config: Mapping[str, Any], centralized: bool) -> ExecutionMode:
    """The mode a config asks for: direct when ``centralized``, else proxy messages over
    ``message_broker`` (``in_memory`` default, ``redis`` with ``redis_url``, or a broker
    object). ``centralized`` is passed in already parsed, strictly, by the env."""
    if centralized:
        return DirectExecution()
    kind = env_config.get("message_broker", "in_memory")
    kwargs = {"redis_url": env_config["redis_url"]} \
        if kind == "redis" and "redis_url" in env_config else {}
    return ProxyExecution(make_broker(kind, **kwargs))


__all__ = [
    "DirectExecution",
    "ExecutionMode",
    "ProxyExecution",
    "RemoteExecution",
    "execution_from_config",
    "registered_agents",
]

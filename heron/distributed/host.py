"""The environment side of a distributed deployment, for any heron env.

:class:`DistributedHost` owns the physics (an env built by the caller's factory with
:class:`~heron.envs.execution.RemoteExecution`) and the proxy. Per step it

1. publishes ``tick {episode, step}`` to every live agent's inbox,
2. serves their ``state_request``-s and collects one ``action`` per agent tagged with
   that ``(episode, step)`` (:meth:`StepSyncProxy.collect_actions`), re-sending the
   tick every ``retick_s`` to agents that are still silent,
3. steps the env with exactly those actions and returns what ``env.step`` returns.

If an agent stays silent for ``action_timeout_s``, the default (``on_missing="raise"``)
is an :class:`AgentTimeoutError` that names it; ``on_missing="hold"`` instead keeps
its last applied action (the neutral action before its first one), like an actuator
that keeps its setpoint, and flags ``infos[agent]["action_held"] = True``.

An answer that cannot be applied (NaN, JSON ``null`` or ``Infinity``, the wrong number
of values, entries that are not numbers) is that agent's answer for the step, and an
unusable one: the proxy rejects and logs it (agent, step, what arrived, why), the host
records it in ``bad_actions`` and treats the agent as silent for that step, at once
(waiting would only bring the same answer again). With ``"raise"`` that is a
:class:`BadActionError` (an :class:`AgentTimeoutError`) naming the agent, the step and
the value; with ``"hold"`` the last applied action is kept and
``infos[agent]["action_rejected"]`` says why. The env itself is never handed it.

Every message is signed and checked (:class:`heron.messaging.auth.SignedBroker`) with a
secret made per host (or taken from ``HERON_RUN_SECRET``); :meth:`DistributedHost.launch_agents`
hands it, and the Redis URL, to the agent processes in their environment.

The agents are agent processes over Redis (:meth:`~DistributedHost.launch_agents`) or,
with an :class:`~heron.messaging.memory.InMemoryBroker`, agent loops in threads of this
process (:meth:`~DistributedHost.launch_agent_threads`): the same protocol either way.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from heron.core.policies import Policy
from heron.distributed.agent import AgentLoop, AgentThread
from heron.distributed.launch import AgentProcess, launch_agents
from heron.distributed.proxy import AgentTimeoutError, StepSyncProxy
from heron.envs.execution import ExecutionMode, RemoteExecution
from heron.messaging.auth import Rejection, SignedBroker, new_run_secret, secret_from_env
from heron.messaging.base import MessageBroker, make_broker
from heron.messaging.vocabulary import SHUTDOWN, TICK
from heron.scheduling.env import default_action_for

if TYPE_CHECKING:  # pragma: no cover
    from heron.envs.base import HeronParallelEnv

log = logging.getLogger(__name__)

#: builds the env the host steps; it must pass the mode on (``MyEnv(cfg, execution=mode)``)
EnvFactory = Callable[[ExecutionMode], "HeronParallelEnv"]


@dataclass
class EpisodeResult:
    """One episode as the host saw it; ``observations[0]`` is the reset observation."""

    episode: str
    observations: list[dict[str, np.ndarray]] = field(default_factory=list)
    rewards: list[dict[str, float]] = field(default_factory=list)
    terminations: list[dict[str, bool]] = field(default_factory=list)
    truncations: list[dict[str, bool]] = field(default_factory=list)
    infos: list[dict[str, dict[str, Any]]] = field(default_factory=list)
    actions: list[dict[str, np.ndarray]] = field(default_factory=list)


class DistributedHost:
    """Physics + proxy for agents that run elsewhere; see the module docstring.

    Args:
        env_factory: ``mode -> env``; the env must be built with that execution mode
            (``lambda mode: MyEnv(config, execution=mode)``), which is how it registers
            its agents with the host's proxy, the only one.
        broker: the transport, already built (an ``InMemoryBroker`` for agent threads,
            a ``RedisBroker`` for processes). Default: a ``RedisBroker`` on ``redis_url``.
        redis_url: where the Redis server is, when ``broker`` is not given; agent
            processes get it too.
        namespace: Redis key prefix; agents must use the same one.
        connect_timeout_s: how long the Redis client rides out an outage.
        max_message_bytes: larger inbound messages are dropped (Redis only).
        action_timeout_s: how long to wait for each step's actions.
        retick_s: re-send the tick to agents still silent after this long; cheap
            insurance against a lost message, harmless because actions are tagged.
        on_missing: ``"raise"`` (default) or ``"hold"``; see the module docstring.
        run_secret: the key every message is signed with. Default: ``HERON_RUN_SECRET``
            from the environment if set (agents launched elsewhere need the same
            value), else a fresh one for this host.
        authenticate: ``False`` turns signing off (the agents then need ``--no-auth``);
            anyone with the broker password can then forge any message.
    """

    def __init__(self, env_factory: EnvFactory, *, broker: MessageBroker | None = None,
                 redis_url: str | None = None, namespace: str = "heron",
                 connect_timeout_s: float = 5.0, max_message_bytes: int | None = None,
                 action_timeout_s: float = 10.0, retick_s: float = 1.0,
                 on_missing: str = "raise", run_secret: str | None = None,
                 authenticate: bool = True) -> None:
        if on_missing not in ("raise", "hold"):
            raise ValueError(f"on_missing must be 'raise' or 'hold', got {on_missing!r}.")
        self.namespace = namespace
        if broker is None:
            if redis_url is None:
                raise ValueError(
                    "DistributedHost needs a transport: pass broker=InMemoryBroker() for "
                    "agent loops in threads of this process, or redis_url=... (a running "
                    "redis-server; `make redis-up` starts one) for agent processes.")
            kwargs: dict[str, Any] = {"redis_url": redis_url, "namespace": namespace,
                                      "connect_timeout_s": connect_timeout_s}
            if max_message_bytes is not None:
                kwargs["max_message_bytes"] = max_message_bytes
            broker = make_broker("redis", **kwargs)
        self.redis_url: str | None = redis_url or getattr(broker, "redis_url", None)
        #: the run's signing key (None when authenticate=False); hand it to agent
        #: processes in their environment, never on a command line
        self.run_secret: str | None = None
        if authenticate:
            self.run_secret = run_secret or secret_from_env() or new_run_secret()
            try:
                broker = SignedBroker(broker, self.run_secret)
            except ValueError:
                broker.close()
                raise
        self.broker = broker
        self.action_timeout_s = float(action_timeout_s)
        self.retick_s = float(retick_s)
        self.on_missing = on_missing
        self.proxy = StepSyncProxy(broker)
        self.execution = RemoteExecution(self.proxy)
        try:
            self.env = env_factory(self.execution)
            if getattr(self.env, "execution", None) is not self.execution:
                raise TypeError(
                    f"env_factory built {type(self.env).__name__} without the execution mode "
                    "it was given, so its agents are not registered with the host's proxy. "
                    "Pass it on: lambda mode: MyEnv(config, execution=mode).")
        except BaseException:
            broker.close()
            raise
        self.agent_ids = list(self.env.possible_agents)
        # the env's spaces exist only now; padded sizes, as the agents' ticks say
        self.proxy.action_dims = {a: int(np.prod(self.env.action_space(a).shape))
                                  for a in self.agent_ids}
        self.applied_log: list[dict[str, Any]] = []
        self.held_log: list[tuple[str, int, str]] = []  # (episode, step, agent)
        #: every unusable answer: {episode, step, agent, received, reason}
        self.bad_actions: list[dict[str, Any]] = []
        self._last_applied: dict[str, np.ndarray] = {}
        self._host_id = uuid.uuid4().hex[:8]
        self._n_episodes = 0
        self.episode: str | None = None
        self._t = 0
        self._last_actions: dict[str, np.ndarray] = {}

    @property
    def forged(self) -> list[Rejection]:
        """Messages to the host that failed the authenticity check (dropped)."""
        return list(self.broker.rejected) if isinstance(self.broker, SignedBroker) else []

    # -- the agents ----------------------------------------------------------------
    def launch_agents(self, agent_ids: Sequence[str] | None = None,
                      **kwargs: Any) -> list[AgentProcess]:
        """:func:`~heron.distributed.launch.launch_agents` for this host: its Redis URL,
        namespace and secret."""
        if self.redis_url is None:
            raise ValueError("DistributedHost.launch_agents: this host's broker has no "
                             "redis_url, so processes cannot reach it; use "
                             "launch_agent_threads(...) for an in-memory broker, or call "
                             "launch_agents(ids, redis_url, ...) yourself.")
        kwargs.setdefault("namespace", self.namespace)
        return launch_agents(list(agent_ids or self.agent_ids), self.redis_url,
                             run_secret=self.run_secret,
                             authenticate=self.run_secret is not None, **kwargs)

    def launch_agent_threads(self, policy: str | Policy | Mapping[str, str | Policy] = "zero",
                             agent_ids: Sequence[str] | None = None,
                             log_dir: str | Path | None = None,
                             **loop_kwargs: Any) -> list[AgentThread]:
        """One :class:`AgentLoop` per agent in a thread of this process, on this host's
        broker (each with its own signer when messages are signed): the deployment's
        protocol without a server. ``policy`` is a spec or a :class:`Policy`, one for
        all or ``{agent: ...}``; ``log_dir`` gets ``<agent>.jsonl`` action logs, as
        for processes; ``loop_kwargs`` go to :class:`AgentLoop`."""
        inner = self.broker.inner if isinstance(self.broker, SignedBroker) else self.broker
        threads = []
        for agent_id in list(agent_ids or self.agent_ids):
            own = policy[agent_id] if isinstance(policy, Mapping) else policy
            broker = SignedBroker(inner, self.run_secret) if self.run_secret else inner
            log_path = Path(log_dir) / f"{agent_id}.jsonl" if log_dir is not None else None
            threads.append(AgentThread.start(AgentLoop(agent_id, broker, policy=own,
                                                       log_path=log_path, **loop_kwargs)))
        return threads

    def wait_for_agents(self, timeout_s: float = 30.0,
                        agents: Sequence[str] | None = None) -> None:
        """Block until each agent said ``hello``; raise naming the absent ones."""
        wanted = list(agents) if agents is not None else self.agent_ids
        missing = self.proxy.wait_for(lambda: [a for a in wanted if a not in self.proxy.ready],
                                      timeout_s)
        if missing:
            raise AgentTimeoutError(
                f"Agent process(es) {missing} did not say hello within {timeout_s:.1f}s. "
                "Are they running with the same redis_url and namespace?", missing)

    def _tick_payload(self, agent_id: str) -> dict[str, Any]:
        space = self.env.action_space(agent_id)
        return {"episode": self.episode, "step": self._t,
                "owners": self.env.observation_owners(agent_id),
                "action_low": np.asarray(space.low, np.float64).tolist(),
                "action_high": np.asarray(space.high, np.float64).tolist(),
                "obs_dim": int(self.env.observation_space(agent_id).shape[0])}

    def _send_ticks(self, agents: Iterable[str], again: bool = False) -> None:
        agents = list(agents)
        if again:
            log.info("DistributedHost: re-sending tick %d to %s", self._t, agents)
        for a in agents:
            self.proxy.send(a, TICK, self._tick_payload(a))

    # -- episodes ------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset the env (and the broker's queues); returns ``(obs, infos)``."""
        obs, infos = self.env.reset(seed=seed, options=options)
        self._n_episodes += 1
        self.episode = f"{self._host_id}-{self._n_episodes}"  # unique across host restarts
        self._t = 0
        self._last_applied.clear()
        return obs, infos

    def step(self, on_tick: Callable[[int], None] | None = None):
        """One tick: collect every live agent's action, step the env, return its tuple."""
        if self.episode is None or not self.env.agents:
            raise RuntimeError("step() needs a running episode; call reset() first.")
        agents = list(self.env.agents)
        self.proxy.begin_step(self.episode, self._t)
        self._send_ticks(agents)
        if on_tick is not None:
            on_tick(self._t)
        held: list[str] = []
        bad: dict[str, tuple[Any, str]] = {}
        try:
            actions = self.proxy.collect_actions(
                agents, self.action_timeout_s,
                on_idle=lambda missing: self._send_ticks(missing, again=True),
                idle_every_s=self.retick_s)
        except AgentTimeoutError as exc:
            bad = getattr(exc, "bad", {})
            for a, (value, why) in bad.items():
                self.bad_actions.append({"episode": self.episode, "step": self._t,
                                         "agent": a, "received": value, "reason": why})
            if self.on_missing == "raise":
                raise
            actions, held = dict(exc.received), exc.missing
            log.warning("DistributedHost: holding the last action of %s at step %d%s",
                        held, self._t, f" (unusable answer from {list(bad)})" if bad else "")
            for a in held:
                fallback = self._last_applied.get(a)
                if fallback is None:
                    fallback = np.asarray(default_action_for(self.env.action_space(a)),
                                          dtype=np.float64)
                actions[a] = fallback
                self.held_log.append((self.episode, self._t, a))
        for a in agents:
            self.applied_log.append({"episode": self.episode, "step": self._t, "agent": a,
                                     "action": np.asarray(actions[a]).tolist(),
                                     "held": a in held})
            self._last_applied[a] = np.asarray(actions[a], dtype=np.float64)
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        for a in held:
            infos[a]["action_held"] = True
        for a, (_, why) in bad.items():
            infos[a]["action_rejected"] = why
        self._t += 1
        self._last_actions = actions
        return obs, rewards, terms, truncs, infos

    def run_episode(self, seed: int | None = None, options: dict | None = None,
                    on_tick: Callable[[int], None] | None = None) -> EpisodeResult:
        """Reset and step until the episode ends; ``on_tick(t)`` runs after tick ``t`` went out."""
        obs, _ = self.reset(seed=seed, options=options)
        result = EpisodeResult(episode=str(self.episode), observations=[obs])
        while self.env.agents:
            obs, rew, term, trunc, infos = self.step(on_tick)
            result.observations.append(obs)
            result.rewards.append(rew)
            result.terminations.append(term)
            result.truncations.append(trunc)
            result.infos.append(infos)
            result.actions.append({a: np.asarray(v) for a, v in self._last_actions.items()})
        return result

    def shutdown_agents(self, reason: str = "host finished") -> None:
        """Ask every agent to exit (best effort)."""
        for a in self.agent_ids:
            try:
                self.proxy.send(a, SHUTDOWN, {"reason": reason})
            except Exception as exc:  # the broker may be gone; processes time out anyway
                log.warning("DistributedHost: could not send shutdown to %s: %s", a, exc)

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> DistributedHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DistributedHost", "EnvFactory", "EpisodeResult"]

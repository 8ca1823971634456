"""The environment side of a distributed deployment, and a launcher for agent processes.

:class:`DistributedEnvHost` owns the physics (a :class:`NetworkedGridEnv` built with
``centralized: false, remote_agents: true``) and the proxy. Per step it

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
secret made per host (or taken from ``HERON_RUN_SECRET``); :meth:`DistributedEnvHost.launch_agents`
hands it, and the Redis URL, to the agent processes in their environment.

Run a whole deployment from the command line (host here, one process per agent)::

    python -m powergrid.distributed.runner --redis-url redis://127.0.0.1:6379/0 --steps 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heron.agents.base import Agent, inbox_topic
from heron.agents.proxy_agent import PROXY_ID, ProxyAgent
from heron.messaging.auth import (
    RUN_SECRET_ENV,
    Rejection,
    SignedBroker,
    new_run_secret,
    secret_from_env,
)
from heron.messaging.base import Message, MessageBroker, make_broker
from heron.scheduling.env import default_action_for
from powergrid.distributed import (
    ACTION,
    HELLO,
    REDIS_URL_ENV,
    SHUTDOWN,
    STATE_REQUEST,
    TICK,
    WELCOME,
)
from powergrid.envs.networked_grid_env import NetworkedGridEnv

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class AgentTimeoutError(TimeoutError):
    """Agents that did not answer in time; ``missing`` names them.

    ``received`` holds the actions that did arrive (already taken off the proxy), so a
    caller that chooses to carry on does not have to ask the agents again.
    """

    def __init__(self, message: str, missing: list[str],
                 received: dict[str, np.ndarray] | None = None) -> None:
        super().__init__(message)
        self.missing = missing
        self.received = received or {}


class BadActionError(AgentTimeoutError):
    """Agents whose answer for the step cannot be applied (NaN, null, wrong length...).

    A subclass of :class:`AgentTimeoutError` because the remedy is the same (the agent
    gave the host nothing usable for this step), so code that copes with a silent agent
    copes with this one. ``bad`` maps each such agent to ``(what arrived, why)``;
    ``missing`` lists every agent without a usable action, bad or silent.
    """

    def __init__(self, message: str, missing: list[str], bad: dict[str, tuple[Any, str]],
                 received: dict[str, np.ndarray] | None = None) -> None:
        super().__init__(message, missing, received)
        self.bad = bad


def _short(value: Any, limit: int = 160) -> str:
    """``repr`` for a log line: what arrived, but never a megabyte of it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def action_problem(action: Any, dim: int) -> str | None:
    """Why ``action`` (as decoded from the wire) cannot be applied, or ``None``.

    Checked here, before the env sees it, because the env's own check raises out of
    ``env.step`` and would end the run for one agent's bad value.
    """
    if not isinstance(action, (list, tuple)):
        return f"action must be a list of {dim} numbers, got {type(action).__name__}"
    if len(action) != dim:
        return f"action has {len(action)} values, expected {dim}"
    if any(v is None for v in action):
        return "action holds null (JSON null is not a number)"
    if not all(type(v) in (int, float) for v in action):  # no bools, strings, lists
        return "action holds entries that are not numbers"
    if not np.isfinite(np.asarray(action, dtype=np.float64)).all():
        return "action holds NaN or Infinity"
    return None


class StepSyncProxy(ProxyAgent):
    """A :class:`ProxyAgent` that accepts one action per agent per tagged step.

    The base proxy keeps "the latest action per sender", which is right in-process
    but wrong over an at-least-once wire: a late answer to step ``t`` would be applied
    at ``t+1``, and a re-sent one would count twice. Here every action carries the
    ``(episode, step)`` of the tick it answers; only the first one for the current
    step is kept, the rest are dropped (logged, counted in ``dropped``). Hostile input
    (unknown sender, wrong type, malformed payload) is rejected as by the base class:
    logged and recorded in ``rejected``; it never raises. A correctly tagged answer
    that cannot be applied (:func:`action_problem`) is rejected the same way *and*
    recorded in ``invalid`` for the step: that agent has answered, unusably, and
    :meth:`collect_actions` stops waiting for it.

    Args:
        broker: the shared broker.
        action_dims: ``{agent_id: action length}`` for the agents that act.
    """

    def __init__(self, broker: MessageBroker, action_dims: Mapping[str, int],
                 agent_id: str = PROXY_ID) -> None:
        super().__init__(broker, agent_id)
        self.action_dims = dict(action_dims)
        self.episode: str | None = None
        self.step: int | None = None
        self.ready: set[str] = set()
        self.dropped: list[tuple[str, str]] = []  # (sender, reason): stale or duplicate
        #: this step's unusable answers: {agent: (what arrived, why)}
        self.invalid: dict[str, tuple[Any, str]] = {}
        self._accepted: set[str] = set()  # senders whose answer for this step is in
        self._wait_s = 0.0

    def begin_step(self, episode: str, step: int) -> None:
        """From now on only actions tagged ``(episode, step)`` are accepted."""
        self.episode, self.step = episode, step
        self.received_actions.clear()
        self.invalid.clear()
        self._accepted.clear()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.dropped.clear()
        self.invalid.clear()
        self._accepted.clear()
        self.episode = self.step = None

    # -- intake --------------------------------------------------------------------
    def receive(self, max_messages: int | None = None) -> list[Message]:
        """Inbox messages (waiting up to the current serve window), filtered by step."""
        broker = self._require_broker()
        topic = inbox_topic(self.agent_id)
        msgs = broker.consume(topic, self.agent_id, max_messages=max_messages,
                              timeout_s=self._wait_s)
        if msgs:
            broker.ack(topic, self.agent_id, [m.seq for m in msgs])
        return [m for m in msgs if self._admit(m)]

    def serve_for(self, timeout_s: float) -> int:
        """Like :meth:`serve`, but wait up to ``timeout_s`` for the first message."""
        self._wait_s = max(0.0, timeout_s)
        try:
            return self.serve()
        finally:
            self._wait_s = 0.0

    def _reject(self, msg: Message, reason: str) -> bool:
        self.rejected.append((msg.sender, reason))
        log.warning("ProxyAgent rejected message seq=%s from %r: %s", msg.seq, msg.sender, reason)
        return False

    def _drop(self, msg: Message, reason: str) -> bool:
        self.dropped.append((msg.sender, reason))
        log.info("ProxyAgent dropped action seq=%s from %r: %s", msg.seq, msg.sender, reason)
        return False

    def _admit(self, msg: Message) -> bool:
        """Whether the base ``serve`` should see ``msg`` (it rejects the generic junk)."""
        if msg.sender not in self.known_agents:
            return True  # base serve rejects and logs unknown senders
        if msg.type == HELLO:
            if msg.sender not in self.action_dims:
                return self._reject(msg, "hello from an agent that does not act")
            self.ready.add(msg.sender)
            self.send(msg.sender, WELCOME, {})
            return False
        if msg.type == STATE_REQUEST:
            owners = msg.payload.get("owners", [msg.sender]) if isinstance(msg.payload, dict) \
                else None
            if not isinstance(owners, list) or not all(isinstance(o, str) for o in owners):
                return self._reject(msg, "state_request owners must be a list of agent ids")
            return True
        if msg.type != ACTION or not isinstance(msg.payload, dict):
            return True  # base serve rejects with the precise reason
        if msg.sender not in self.action_dims:
            return self._reject(msg, "action from an agent that does not act")
        episode, step = msg.payload.get("episode"), msg.payload.get("step")
        if type(step) is not int or not isinstance(episode, str):
            return self._reject(msg, "action without an (episode, step) tag")
        if episode != self.episode or step != self.step:
            return self._drop(msg, f"stale action for episode {episode} step {step} "
                                   f"(now episode {self.episode} step {self.step})")
        if msg.sender in self._accepted:  # not received_actions: it may be in this batch
            return self._drop(msg, f"duplicate action for step {step}")
        self._accepted.add(msg.sender)  # its one answer for this step, usable or not
        action = msg.payload.get("action")
        problem = action_problem(action, self.action_dims[msg.sender])
        if problem is not None:
            self.invalid[msg.sender] = (action, problem)
            return self._reject(msg, f"{problem} (episode {episode} step {step}, received "
                                     f"{_short(action)}); {msg.sender} counts as silent "
                                     "for this step")
        return True

    # -- collection ----------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], list[str]], timeout_s: float,
                 on_idle: Callable[[list[str]], None] | None = None,
                 idle_every_s: float = 1.0) -> list[str]:
        """Serve until ``predicate()`` (the still-missing agents) is empty or time is up."""
        deadline = time.monotonic() + timeout_s
        next_idle = time.monotonic() + idle_every_s
        while True:
            missing = predicate()
            now = time.monotonic()
            if not missing or now >= deadline:
                return missing
            if on_idle is not None and now >= next_idle:
                on_idle(missing)
                next_idle = now + idle_every_s
            self.serve_for(min(deadline, next_idle) - now)

    def collect_actions(self, expected: list[str], timeout_s: float = 0.0,
                        on_idle: Callable[[list[str]], None] | None = None,
                        idle_every_s: float = 1.0) -> dict[str, np.ndarray]:
        """This step's action from each of ``expected``; waits up to ``timeout_s``.

        Raises :class:`BadActionError` if any of them answered unusably, else
        :class:`AgentTimeoutError` naming the agents still missing.
        """
        self.wait_for(lambda: [a for a in expected
                               if a not in self.received_actions and a not in self.invalid],
                      timeout_s, on_idle, idle_every_s)
        try:
            return super().collect_actions(expected)
        except TimeoutError as exc:
            missing = [a for a in expected if a not in self.received_actions]
            received = {a: self.received_actions.pop(a) for a in expected
                        if a in self.received_actions}
            bad = {a: self.invalid[a] for a in missing if a in self.invalid}
            silent = [a for a in missing if a not in bad]
            where = f"episode {self.episode} step {self.step}"
            if bad:
                what = "; ".join(f"{a} sent {_short(v)}: {why}" for a, (v, why) in bad.items())
                also = (f" No action at all from {silent} within {timeout_s:.1f}s."
                        if silent else "")
                raise BadActionError(
                    f"Unusable action from agent(s) {list(bad)} for {where}: {what}.{also} "
                    "Check those agents' policies (a diverged network produces NaN).",
                    missing, bad, received) from exc
            raise AgentTimeoutError(
                f"No action from agent(s) {missing} for {where} within {timeout_s:.1f}s. "
                "Check that those agent processes are alive and connected to the broker.",
                missing, received) from exc


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


def _env_class(config: Mapping[str, Any]) -> type[NetworkedGridEnv]:
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

    return MultiAgentMicrogrids


class DistributedEnvHost:
    """Physics + proxy for agents that run elsewhere; see the module docstring.

    Args:
        env_config: a setup's ``env_config``. ``message_broker``/``redis_url`` pick the
            transport as for the env itself; ``centralized`` and ``remote_agents`` are
            forced to the deployment values.
        env_cls: the env class (default :class:`MultiAgentMicrogrids`).
        broker: an already built broker (overrides ``message_broker``).
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

    def __init__(self, env_config: Mapping[str, Any], *,
                 env_cls: type[NetworkedGridEnv] | None = None,
                 broker: MessageBroker | None = None, namespace: str = "heron",
                 connect_timeout_s: float = 5.0, max_message_bytes: int | None = None,
                 action_timeout_s: float = 10.0, retick_s: float = 1.0,
                 on_missing: str = "raise", run_secret: str | None = None,
                 authenticate: bool = True) -> None:
        if on_missing not in ("raise", "hold"):
            raise ValueError(f"on_missing must be 'raise' or 'hold', got {on_missing!r}.")
        cfg = dict(env_config)
        self.namespace = namespace
        if broker is None:
            broker = self._make_broker(cfg, namespace, connect_timeout_s, max_message_bytes)
            self.redis_url: str | None = cfg.get("redis_url", DEFAULT_REDIS_URL)
        else:
            self.redis_url = getattr(broker, "redis_url", None)
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
        cfg.update(centralized=False, remote_agents=True, message_broker=broker)
        self.broker = broker
        self.action_timeout_s = float(action_timeout_s)
        self.retick_s = float(retick_s)
        self.on_missing = on_missing
        try:
            self.env: NetworkedGridEnv = (env_cls or _env_class(cfg))(cfg)
        except BaseException:
            broker.close()
            raise
        self.agent_ids = list(self.env.possible_agents)
        self.proxy = self._adopt_proxy(self.env)
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

    @staticmethod
    def _make_broker(cfg: Mapping[str, Any], namespace: str, connect_timeout_s: float,
                     max_message_bytes: int | None) -> MessageBroker:
        kind = cfg.get("message_broker", "in_memory")
        if isinstance(kind, MessageBroker):
            return kind
        if kind != "redis":
            raise ValueError(
                f"DistributedEnvHost needs message_broker: redis (got {kind!r}): agent "
                "processes cannot reach an in-memory broker. For in-process distributed "
                "mode use the env itself with centralized: false. Start a server with "
                "`make redis-up` and set redis_url."
            )
        kwargs: dict[str, Any] = {"redis_url": cfg.get("redis_url", DEFAULT_REDIS_URL),
                                  "namespace": namespace,
                                  "connect_timeout_s": connect_timeout_s}
        if max_message_bytes is not None:
            kwargs["max_message_bytes"] = max_message_bytes
        return make_broker("redis", **kwargs)

    def _adopt_proxy(self, env: NetworkedGridEnv) -> StepSyncProxy:
        """Replace the env's plain proxy by a step-synchronised one with the same registry."""
        dims = {a: int(np.prod(env.action_space(a).shape)) for a in self.agent_ids}
        proxy = StepSyncProxy(self.broker, dims)
        registered: list[Agent] = []
        for agent in env.agent_dict.values():
            registered.append(agent)
            registered.extend(agent.devices.values())
        for agent in registered:
            proxy.register_agent(agent)
        if env.proxy is not None and set(proxy.known_agents) != set(env.proxy.known_agents):
            raise RuntimeError(  # the env registers something new: mirror it here
                f"DistributedEnvHost: proxy registry drifted from the env's: "
                f"{sorted(proxy.known_agents)} vs {sorted(env.proxy.known_agents)}.")
        env.proxy = proxy
        return proxy

    @property
    def forged(self) -> list[Rejection]:
        """Messages to the host that failed the authenticity check (dropped)."""
        return list(self.broker.rejected) if isinstance(self.broker, SignedBroker) else []

    def launch_agents(self, agent_ids: Sequence[str] | None = None,
                      **kwargs: Any) -> list[AgentProcess]:
        """:func:`launch_agents` for this host: its Redis URL, namespace and secret."""
        if self.redis_url is None:
            raise ValueError("DistributedEnvHost.launch_agents: this host's broker has no "
                             "redis_url; call launch_agents(ids, redis_url, ...) yourself.")
        kwargs.setdefault("namespace", self.namespace)
        return launch_agents(list(agent_ids or self.agent_ids), self.redis_url,
                             run_secret=self.run_secret,
                             authenticate=self.run_secret is not None, **kwargs)

    # -- lifecycle -----------------------------------------------------------------
    def wait_for_agents(self, timeout_s: float = 30.0,
                        agents: Sequence[str] | None = None) -> None:
        """Block until each agent process said ``hello``; raise naming the absent ones."""
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
            log.info("DistributedEnvHost: re-sending tick %d to %s", self._t, agents)
        for a in agents:
            self.proxy.send(a, TICK, self._tick_payload(a))

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
            log.warning("DistributedEnvHost: holding the last action of %s at step %d%s",
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
        """Ask every agent process to exit (best effort)."""
        for a in self.agent_ids:
            try:
                self.proxy.send(a, SHUTDOWN, {"reason": reason})
            except Exception as exc:  # the broker may be gone; processes time out anyway
                log.warning("DistributedEnvHost: could not send shutdown to %s: %s", a, exc)

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> DistributedEnvHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- agent processes -----------------------------------------------------------------
@dataclass
class AgentProcess:
    """A launched ``agent_process``; ``sent()`` reads back its action log."""

    agent_id: str
    popen: subprocess.Popen
    log_path: Path
    stderr_path: Path

    def sent(self, include_resends: bool = False) -> list[dict[str, Any]]:
        """Its log's ``event: action`` records; with ``include_resends`` every record
        (also ``resend`` and ``forged``)."""
        if not self.log_path.exists():
            return []
        records = [json.loads(line) for line in self.log_path.read_text().splitlines() if line]
        return [r for r in records if include_resends or r["event"] == "action"]

    def forged(self) -> list[dict[str, Any]]:
        """The messages this agent dropped for failing the authenticity check."""
        return [r for r in self.sent(include_resends=True) if r["event"] == "forged"]

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout_s: float = 5.0) -> int:
        """Wait for a clean exit, then terminate, then kill; returns the exit code."""
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.terminate()
        try:
            return self.popen.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()


def _agent_env(redis_url: str, run_secret: str | None) -> dict[str, str]:
    """The child's environment: the URL (with its password) and the secret go here, not
    on the command line, which every local user can read with ``ps``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", REDIS_URL_ENV: redis_url}
    env.pop(RUN_SECRET_ENV, None)
    if run_secret is not None:
        env[RUN_SECRET_ENV] = run_secret
    return env


def launch_agents(agent_ids: Sequence[str], redis_url: str, *, namespace: str = "heron",
                  policy: str | Mapping[str, str] = "zero", log_dir: str | Path = ".",
                  connect_timeout_s: float = 10.0, idle_timeout_s: float | None = 120.0,
                  extra_args: Sequence[str] = (), run_secret: str | None = None,
                  authenticate: bool = True) -> list[AgentProcess]:
    """Start one ``python -m powergrid.distributed.agent_process`` per agent.

    ``policy`` is one spec for all or ``{agent: spec}``; ``idle_timeout_s`` makes an
    orphaned process exit on its own if the host dies. ``run_secret`` is the host's
    (``host.run_secret``; default ``HERON_RUN_SECRET`` from this environment): the
    agents sign with it and drop what is not signed with it. ``authenticate=False``
    starts them with ``--no-auth``, for a host built with ``authenticate=False``.
    """
    if authenticate:
        run_secret = run_secret or secret_from_env()
        if run_secret is None:
            raise ValueError(
                "launch_agents needs the host's run secret to start agents that can talk to "
                "it: pass run_secret=host.run_secret (or use host.launch_agents(...)), or "
                f"set {RUN_SECRET_ENV}.")
    else:
        run_secret, extra_args = None, ["--no-auth", *extra_args]
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = _agent_env(redis_url, run_secret)
    procs: list[AgentProcess] = []
    for agent_id in agent_ids:
        spec = policy[agent_id] if isinstance(policy, Mapping) else policy
        log_path = log_dir / f"{agent_id}.jsonl"
        log_path.unlink(missing_ok=True)
        stderr_path = log_dir / f"{agent_id}.stderr"
        cmd = [sys.executable, "-m", "powergrid.distributed.agent_process",
               "--agent", agent_id, "--namespace", namespace,
               "--policy", spec, "--log", str(log_path),
               "--connect-timeout-s", str(connect_timeout_s), *extra_args]
        if idle_timeout_s is not None:
            cmd += ["--idle-timeout-s", str(idle_timeout_s)]
        with stderr_path.open("w") as err:
            popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     env=env)
        procs.append(AgentProcess(agent_id, popen, log_path, stderr_path))
    return procs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m powergrid.distributed.runner",
        description="Run NetworkedGridEnv with each agent in its own process over Redis.")
    parser.add_argument("--setup", default="ieee34_ieee13", help="setup name or config.yml")
    parser.add_argument("--redis-url", default=None,
                        help="overrides the config's redis_url (and selects message_broker: "
                             f"redis); default ${REDIS_URL_ENV} if set. The variable is safer: "
                             "a password on the command line is visible in `ps`")
    parser.add_argument("--namespace", default="heron")
    parser.add_argument("--steps", type=int, default=None, help="max_episode_steps override")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="random",
                        help="zero | random (seed+i per agent) | random:SEED | replay:PATH")
    parser.add_argument("--action-timeout-s", type=float, default=10.0)
    parser.add_argument("--on-missing", choices=("raise", "hold"), default="raise")
    parser.add_argument("--no-spawn", action="store_true",
                        help="do not start agent processes (they are launched elsewhere; "
                             f"then {RUN_SECRET_ENV} must be set, the same for all)")
    parser.add_argument("--no-auth", action="store_true",
                        help="do not sign or check messages (anyone with the Redis "
                             "password can then forge them); agents need --no-auth too")
    parser.add_argument("--log-dir", default=None, help="agent logs (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.no_spawn and not args.no_auth and secret_from_env() is None:
        parser.error(f"--no-spawn needs {RUN_SECRET_ENV} set (to the same value for the host "
                     "and every agent process) so they can check each other's messages, e.g. "
                     f"export {RUN_SECRET_ENV}=$(python -c 'import secrets; "
                     "print(secrets.token_hex(32))')")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from powergrid.setups.loader import load_setup

    cfg = load_setup(args.setup)
    args.redis_url = args.redis_url or os.environ.get(REDIS_URL_ENV)
    if args.redis_url:
        cfg.update(message_broker="redis", redis_url=args.redis_url)
    elif cfg.get("message_broker") != "redis":
        cfg["message_broker"] = "redis"  # separate processes need a real broker
    if args.steps is not None:
        cfg["max_episode_steps"] = args.steps
    host = DistributedEnvHost(cfg, namespace=args.namespace,
                              action_timeout_s=args.action_timeout_s, on_missing=args.on_missing,
                              authenticate=not args.no_auth)
    procs: list[AgentProcess] = []
    try:
        if not args.no_spawn:
            import tempfile

            log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="heron-agents-"))
            policies = {a: (f"random:{args.seed + i}" if args.policy == "random" else args.policy)
                        for i, a in enumerate(host.agent_ids)}
            procs = host.launch_agents(policy=policies, log_dir=log_dir)
            print(f"agents: {', '.join(host.agent_ids)} (logs in {log_dir})")
        host.wait_for_agents(timeout_s=60.0)
        for ep in range(args.episodes):
            result = host.run_episode(seed=args.seed + ep)
            total = {a: sum(r[a] for r in result.rewards) for a in host.agent_ids}
            print(json.dumps({"episode": ep, "steps": len(result.rewards),
                              "return": {a: round(v, 4) for a, v in total.items()},
                              "actions_dropped": len(host.proxy.dropped),
                              "actions_unusable": len(host.bad_actions),
                              "messages_rejected": len(host.proxy.rejected),
                              "messages_forged": len(host.forged)}))
        return 0
    finally:
        host.shutdown_agents()
        for p in procs:
            p.stop()
        host.close()


if __name__ == "__main__":
    sys.exit(main())

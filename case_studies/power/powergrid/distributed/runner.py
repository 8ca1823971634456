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
from heron.messaging.base import Message, MessageBroker, make_broker
from heron.scheduling.env import default_action_for
from powergrid.distributed import ACTION, HELLO, SHUTDOWN, STATE_REQUEST, TICK, WELCOME
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


class StepSyncProxy(ProxyAgent):
    """A :class:`ProxyAgent` that accepts one action per agent per tagged step.

    The base proxy keeps "the latest action per sender", which is right in-process
    but wrong over an at-least-once wire: a late answer to step ``t`` would be applied
    at ``t+1``, and a re-sent one would count twice. Here every action carries the
    ``(episode, step)`` of the tick it answers; only the first one for the current
    step is kept, the rest are dropped (logged, counted in ``dropped``). Hostile input
    (unknown sender, wrong type, malformed or wrongly sized payload) is rejected as by
    the base class: logged and recorded in ``rejected``; it never raises.

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
        self._accepted: set[str] = set()  # senders whose action for this step got in
        self._wait_s = 0.0

    def begin_step(self, episode: str, step: int) -> None:
        """From now on only actions tagged ``(episode, step)`` are accepted."""
        self.episode, self.step = episode, step
        self.received_actions.clear()
        self._accepted.clear()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.dropped.clear()
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
        if msg.type != ACTION or self._check(msg) is not None:
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
        n = len(msg.payload["action"])
        if n != self.action_dims[msg.sender]:
            return self._reject(msg, f"action has {n} values, expected "
                                     f"{self.action_dims[msg.sender]}")
        self._accepted.add(msg.sender)
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

        Raises :class:`AgentTimeoutError` naming the agents still missing.
        """
        self.wait_for(lambda: [a for a in expected if a not in self.received_actions],
                      timeout_s, on_idle, idle_every_s)
        try:
            return super().collect_actions(expected)
        except TimeoutError as exc:
            missing = [a for a in expected if a not in self.received_actions]
            received = {a: self.received_actions.pop(a) for a in expected
                        if a in self.received_actions}
            raise AgentTimeoutError(
                f"No action from agent(s) {missing} for episode {self.episode} step "
                f"{self.step} within {timeout_s:.1f}s. Check that those agent processes "
                "are alive and connected to the broker.", missing, received) from exc


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
    """

    def __init__(self, env_config: Mapping[str, Any], *,
                 env_cls: type[NetworkedGridEnv] | None = None,
                 broker: MessageBroker | None = None, namespace: str = "heron",
                 connect_timeout_s: float = 5.0, max_message_bytes: int | None = None,
                 action_timeout_s: float = 10.0, retick_s: float = 1.0,
                 on_missing: str = "raise") -> None:
        if on_missing not in ("raise", "hold"):
            raise ValueError(f"on_missing must be 'raise' or 'hold', got {on_missing!r}.")
        cfg = dict(env_config)
        if broker is None:
            broker = self._make_broker(cfg, namespace, connect_timeout_s, max_message_bytes)
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
        try:
            actions = self.proxy.collect_actions(
                agents, self.action_timeout_s,
                on_idle=lambda missing: self._send_ticks(missing, again=True),
                idle_every_s=self.retick_s)
        except AgentTimeoutError as exc:
            if self.on_missing == "raise":
                raise
            actions, held = dict(exc.received), exc.missing
            log.warning("DistributedEnvHost: holding the last action of %s at step %d",
                        held, self._t)
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
        if not self.log_path.exists():
            return []
        records = [json.loads(line) for line in self.log_path.read_text().splitlines() if line]
        return [r for r in records if include_resends or r["event"] == "action"]

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


def launch_agents(agent_ids: Sequence[str], redis_url: str, *, namespace: str = "heron",
                  policy: str | Mapping[str, str] = "zero", log_dir: str | Path = ".",
                  connect_timeout_s: float = 10.0, idle_timeout_s: float | None = 120.0,
                  extra_args: Sequence[str] = ()) -> list[AgentProcess]:
    """Start one ``python -m powergrid.distributed.agent_process`` per agent.

    ``policy`` is one spec for all or ``{agent: spec}``; ``idle_timeout_s`` makes an
    orphaned process exit on its own if the host dies.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[AgentProcess] = []
    for agent_id in agent_ids:
        spec = policy[agent_id] if isinstance(policy, Mapping) else policy
        log_path = log_dir / f"{agent_id}.jsonl"
        log_path.unlink(missing_ok=True)
        stderr_path = log_dir / f"{agent_id}.stderr"
        cmd = [sys.executable, "-m", "powergrid.distributed.agent_process",
               "--agent", agent_id, "--redis-url", redis_url, "--namespace", namespace,
               "--policy", spec, "--log", str(log_path),
               "--connect-timeout-s", str(connect_timeout_s), *extra_args]
        if idle_timeout_s is not None:
            cmd += ["--idle-timeout-s", str(idle_timeout_s)]
        with stderr_path.open("w") as err:
            popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        procs.append(AgentProcess(agent_id, popen, log_path, stderr_path))
    return procs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m powergrid.distributed.runner",
        description="Run NetworkedGridEnv with each agent in its own process over Redis.")
    parser.add_argument("--setup", default="ieee34_ieee13", help="setup name or config.yml")
    parser.add_argument("--redis-url", default=None,
                        help="overrides the config's redis_url (and selects message_broker: redis)")
    parser.add_argument("--namespace", default="heron")
    parser.add_argument("--steps", type=int, default=None, help="max_episode_steps override")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="random",
                        help="zero | random (seed+i per agent) | random:SEED | replay:PATH")
    parser.add_argument("--action-timeout-s", type=float, default=10.0)
    parser.add_argument("--on-missing", choices=("raise", "hold"), default="raise")
    parser.add_argument("--no-spawn", action="store_true",
                        help="do not start agent processes (they are launched elsewhere)")
    parser.add_argument("--log-dir", default=None, help="agent logs (default: a temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from powergrid.setups.loader import load_setup

    cfg = load_setup(args.setup)
    if args.redis_url:
        cfg.update(message_broker="redis", redis_url=args.redis_url)
    elif cfg.get("message_broker") != "redis":
        cfg["message_broker"] = "redis"  # separate processes need a real broker
    if args.steps is not None:
        cfg["max_episode_steps"] = args.steps
    redis_url = cfg.get("redis_url", DEFAULT_REDIS_URL)
    host = DistributedEnvHost(cfg, namespace=args.namespace,
                              action_timeout_s=args.action_timeout_s, on_missing=args.on_missing)
    procs: list[AgentProcess] = []
    try:
        if not args.no_spawn:
            import tempfile

            log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="heron-agents-"))
            policies = {a: (f"random:{args.seed + i}" if args.policy == "random" else args.policy)
                        for i, a in enumerate(host.agent_ids)}
            procs = launch_agents(host.agent_ids, redis_url, namespace=args.namespace,
                                  policy=policies, log_dir=log_dir)
            print(f"agents: {', '.join(host.agent_ids)} (logs in {log_dir})")
        host.wait_for_agents(timeout_s=60.0)
        for ep in range(args.episodes):
            result = host.run_episode(seed=args.seed + ep)
            total = {a: sum(r[a] for r in result.rewards) for a in host.agent_ids}
            print(json.dumps({"episode": ep, "steps": len(result.rewards),
                              "return": {a: round(v, 4) for a, v in total.items()},
                              "actions_dropped": len(host.proxy.dropped),
                              "messages_rejected": len(host.proxy.rejected)}))
        return 0
    finally:
        host.shutdown_agents()
        for p in procs:
            p.stop()
        host.close()


if __name__ == "__main__":
    sys.exit(main())

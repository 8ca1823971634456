"""One agent as its own event loop: in its own OS process, or in a thread of the host's.

Usage (the launcher, :func:`heron.distributed.launch.launch_agents`, does this)::

    HERON_REDIS_URL=redis://:PASSWORD@127.0.0.1:6379/0 HERON_RUN_SECRET=... \\
        python -m heron.distributed.agent --agent MG1 --policy random:0

The Redis URL (it carries the server's password) and the run secret (the key every
message is signed with, :mod:`heron.messaging.auth`) come from the environment, which
only this user can read. ``--redis-url`` still works for a manual start but puts the
password on the command line, where ``ps`` shows it to every local user. Messages that
fail the signature check (unsigned, signed with another key, altered, replayed) are
dropped, logged on stderr, counted (:attr:`AgentLoop.forged`) and written to ``--log``
as ``event: forged``; a forged ``tick`` or ``shutdown`` changes nothing.

The loop knows nothing about the domain: each ``tick`` from the host says which
owners it observes and what its action bounds are. Per tick it asks the proxy for
state, builds the observation from the ``state_response`` with the env's own
:func:`~heron.agents.proxy_agent.observation_from_states` (so the vector is bit for bit
the env's), runs its policy once and sends the action tagged with the tick's
``(episode, step)``. A repeated tick for the step it already answered gets the *same*
action again (never a fresh policy call), so a re-sent tick can neither shift a seeded
policy's random stream nor produce two different actions for one step.

Policies (``--policy``; in a thread, any :class:`~heron.core.policies.Policy` too):

* ``zero``: the neutral action (zeros clipped into the bounds);
* ``random[:SEED]``: :class:`heron.core.policies.RandomPolicy` on the tick's Box;
* ``replay:PATH``: actions from a JSON file, ``[[...], ...]`` per step or
  ``{"MG1": [[...], ...], ...}`` per agent; the last one is held past the end.

Exit codes: 0 after ``shutdown``, 2 bad arguments (also: no run secret and no
``--no-auth``), 3 no word from the host for ``--idle-timeout-s``, 4 broker unreachable.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from heron.agents.base import Agent, inbox_topic
from heron.agents.proxy_agent import PROXY_ID, observation_from_states
from heron.core.policies import ConstantPolicy, Policy, RandomPolicy
from heron.distributed.launch import DEFAULT_REDIS_URL, REDIS_URL_ENV
from heron.messaging.auth import RUN_SECRET_ENV, Rejection, SignedBroker, secret_from_env
from heron.messaging.base import (
    BrokerError,
    Message,
    MessageBroker,
    UnknownTopicError,
    make_broker,
)
from heron.messaging.vocabulary import (
    ACTION,
    HELLO,
    SHUTDOWN,
    STATE_REQUEST,
    STATE_RESPONSE,
    TICK,
    WELCOME,
)

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_IDLE = 3
EXIT_BROKER = 4


@dataclass(frozen=True)
class Tick:
    """A validated ``tick`` payload."""

    episode: str
    step: int
    owners: list[str]
    low: np.ndarray
    high: np.ndarray
    #: the env's (possibly padded, ``pad_spaces``) observation size; None: as built
    obs_dim: int | None = None

    @property
    def space(self) -> spaces.Box:
        return spaces.Box(low=self.low, high=self.high, dtype=np.float32)


def parse_tick(payload: dict[str, Any]) -> Tick | str:
    """The tick, or why it is unusable (a hostile or buggy sender must not crash us)."""
    episode, step, owners = payload.get("episode"), payload.get("step"), payload.get("owners")
    if not isinstance(episode, str) or not episode:
        return "tick without an episode id"
    if type(step) is not int or step < 0:
        return f"tick with invalid step {step!r}"
    if not isinstance(owners, list) or not owners or not all(isinstance(o, str) for o in owners):
        return "tick without a list of owners"
    try:
        low = np.asarray(payload.get("action_low"), dtype=np.float32)
        high = np.asarray(payload.get("action_high"), dtype=np.float32)
    except (TypeError, ValueError):
        return "tick with non-numeric action bounds"
    if low.ndim != 1 or low.shape != high.shape or not np.all(low <= high):
        return "tick with inconsistent action bounds"
    obs_dim = payload.get("obs_dim")
    if obs_dim is not None and (type(obs_dim) is not int or obs_dim < 1):
        return f"tick with invalid obs_dim {obs_dim!r}"
    return Tick(episode, step, list(owners), low, high, obs_dim)


def pad_to(obs: np.ndarray, obs_dim: int | None) -> np.ndarray:
    """Zero-pad like the env does with ``pad_spaces`` (own entries first, then zeros)."""
    if obs_dim is None or obs.shape[0] == obs_dim:
        return obs
    if obs.shape[0] > obs_dim:
        raise ValueError(f"observation has {obs.shape[0]} entries, more than the env's "
                         f"{obs_dim}")
    return np.concatenate([obs, np.zeros(obs_dim - obs.shape[0], dtype=obs.dtype)])


class ReplayPolicy(Policy):
    """Actions from a list, indexed by step; the last one is held past the end."""

    def __init__(self, actions: Sequence[Sequence[float]]) -> None:
        if not actions:
            raise ValueError("ReplayPolicy needs at least one action.")
        self.actions = [np.asarray(a, dtype=np.float32) for a in actions]
        self.step = 0
        self._warned = False

    def seek(self, step: int) -> None:
        """Replay is by step index, not by call count, so a rejoining agent stays aligned."""
        self.step = step

    def forward(self, observation: Any) -> Any:
        if self.step >= len(self.actions) and not self._warned:
            log.warning("ReplayPolicy: step %d is past the %d recorded actions; holding "
                        "the last one", self.step, len(self.actions))
            self._warned = True
        return self.actions[min(self.step, len(self.actions) - 1)].copy()


def make_policy(spec: str, agent_id: str, space: spaces.Box) -> Policy:
    """Build the policy named by ``spec`` for ``agent_id`` acting in ``space``."""
    kind, _, arg = spec.partition(":")
    if kind == "zero":
        return ConstantPolicy(np.clip(np.zeros(space.shape, np.float32), space.low, space.high))
    if kind == "random":
        try:
            seed = int(arg) if arg else None
        except ValueError:
            raise ValueError(f"random policy seed must be an int, got {arg!r}.") from None
        return RandomPolicy(space, seed=seed)
    if kind == "replay":
        if not arg:
            raise ValueError("replay policy needs a file: replay:PATH.")
        data = json.loads(Path(arg.replace("{agent}", agent_id)).read_text())
        if isinstance(data, dict):
            if agent_id not in data:
                raise ValueError(f"replay file {arg} has no actions for {agent_id!r} "
                                 f"(has {sorted(data)}).")
            data = data[agent_id]
        return ReplayPolicy(data)
    raise ValueError(f"Unknown policy {spec!r}; use zero, random[:SEED] or replay:PATH.")


class AgentLoop:
    """The controller's event loop: hello, then per tick observe -> act -> send.

    Args:
        agent_id: the agent this loop plays (must be registered with the proxy).
        broker: a broker shared with the host (Redis for separate processes, the host's
            in-memory one for a thread; its own ``SignedBroker`` wrapper either way).
        policy: a ``--policy`` spec, built at the first tick, when the space is known;
            or a ready :class:`Policy` (e.g. a domain's rule, in a thread).
        log_path: JSON lines of every action sent (``event: action``) and re-sent
            (``event: resend``), with the observation it was computed from, and every
            message dropped by the authenticity check (``event: forged``). The fault
            tests compare it with the host's log of applied actions.
        request_retry_s: re-send a ``state_request`` unanswered for this long.
        hello_retry_s: re-send ``hello`` until the proxy first speaks.
        idle_timeout_s: exit if the host stays silent this long (no orphans if it dies).
        poll_s: longest single blocking read, so timeouts are checked regularly.
    """

    def __init__(self, agent_id: str, broker: MessageBroker, policy: str | Policy = "zero",
                 log_path: str | Path | None = None, request_retry_s: float = 2.0,
                 hello_retry_s: float = 1.0, idle_timeout_s: float | None = None,
                 poll_s: float = 0.5) -> None:
        self.agent = Agent(agent_id, message_broker=broker)  # subscribes its inbox
        self.agent_id = agent_id
        self.broker = broker
        self.topic = inbox_topic(agent_id)
        self.policy_spec = policy if isinstance(policy, str) else None
        self.policy: Policy | None = None if isinstance(policy, str) else policy
        self.log_path = Path(log_path) if log_path else None
        self.request_retry_s = request_retry_s
        self.hello_retry_s = hello_retry_s
        self.idle_timeout_s = idle_timeout_s
        self.poll_s = poll_s
        self.episode: str | None = None
        self.last_step: int | None = None
        self.last_action: list[float] | None = None
        self._backlog: deque[Message] = deque()
        self._heard_proxy = False
        self._last_heard = time.monotonic()
        self._forged_logged = 0

    @property
    def forged(self) -> list[Rejection]:
        """Messages to this agent that failed the authenticity check (dropped)."""
        return list(self.broker.rejected) if isinstance(self.broker, SignedBroker) else []

    def _log_forged(self) -> None:
        """Write each newly dropped forgery to the action log, so a test (or an operator)
        reading the log sees it next to the actions."""
        forged = self.forged
        for r in forged[self._forged_logged:]:
            self._write_log({"event": "forged", "type": r.type, "sender": r.sender,
                             "seq": r.seq, "reason": r.reason})
        self._forged_logged = len(forged)

    # -- plumbing ------------------------------------------------------------------
    def _fetch(self, timeout_s: float) -> list[Message]:
        """Read and acknowledge inbox messages (waiting up to ``timeout_s``)."""
        try:
            msgs = self.broker.consume(self.topic, self.agent_id, timeout_s=max(0.0, timeout_s))
        except UnknownTopicError:
            # the server lost its data (no persistence): join again and carry on
            log.warning("%s: inbox group missing on the broker; subscribing again", self.agent_id)
            self.broker.subscribe(self.topic, self.agent_id)
            return []
        self._log_forged()
        if msgs:
            self.broker.ack(self.topic, self.agent_id, [m.seq for m in msgs])
        for m in msgs:
            if m.sender == PROXY_ID:
                self._heard_proxy = True
                self._last_heard = time.monotonic()
        return msgs

    def _next(self, timeout_s: float) -> Message | None:
        if not self._backlog:
            self._backlog.extend(self._fetch(timeout_s))
        return self._backlog.popleft() if self._backlog else None

    def _idle_too_long(self) -> bool:
        return (self.idle_timeout_s is not None
                and time.monotonic() - self._last_heard > self.idle_timeout_s)

    def _say_hello(self) -> None:
        try:
            self.agent.send(PROXY_ID, HELLO, {"pid": os.getpid()})
        except UnknownTopicError:
            log.info("%s: the proxy's inbox does not exist yet; is the host running?",
                     self.agent_id)

    def _write_log(self, record: dict[str, Any]) -> None:
        if self.log_path is None:
            return
        with self.log_path.open("a") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")

    # -- main loop -----------------------------------------------------------------
    def run(self) -> int:
        """Serve ticks until ``shutdown`` (returns 0) or the host goes silent (3)."""
        log.info("%s: up (pid %d), waiting for the host", self.agent_id, os.getpid())
        next_hello = 0.0
        while True:
            if not self._heard_proxy and time.monotonic() >= next_hello:
                self._say_hello()
                next_hello = time.monotonic() + self.hello_retry_s
            msg = self._next(self.poll_s)
            if msg is None:
                if self._idle_too_long():
                    log.error("%s: no message from the host for %.0fs; exiting",
                              self.agent_id, self.idle_timeout_s)
                    return EXIT_IDLE
                continue
            if msg.sender != PROXY_ID:
                log.warning("%s: ignored %r from %r: only the proxy may address agents",
                            self.agent_id, msg.type, msg.sender)
                continue
            if msg.type == TICK:
                self._on_tick(msg)
            elif msg.type == SHUTDOWN:
                log.info("%s: shutdown (%s)", self.agent_id, msg.payload.get("reason", ""))
                return EXIT_OK
            elif msg.type in (WELCOME, STATE_RESPONSE):
                continue  # a welcome, or the answer to a request we no longer wait for
            else:
                log.warning("%s: ignored unknown message type %r", self.agent_id, msg.type)

    def _on_tick(self, msg: Message) -> None:
        tick = parse_tick(msg.payload)
        if isinstance(tick, str):
            log.warning("%s: ignored malformed tick seq=%s: %s", self.agent_id, msg.seq, tick)
            return
        if tick.episode != self.episode:
            self.episode, self.last_step, self.last_action = tick.episode, None, None
            if self.policy is not None:
                self.policy.reset()
        elif self.last_step is not None and tick.step <= self.last_step:
            if tick.step == self.last_step and self.last_action is not None:
                # the host did not get our action (or re-ticked anyway): same action again
                self._send_action(tick, self.last_action)
                self._write_log({"event": "resend", "episode": tick.episode,
                                 "step": tick.step, "action": self.last_action})
            return
        obs = self._observe(tick)
        if obs is None:
            return  # the host moved on while we waited; the newer tick is in the backlog
        if self.policy is None:
            self.policy = make_policy(str(self.policy_spec), self.agent_id, tick.space)
        if isinstance(self.policy, ReplayPolicy):
            self.policy.seek(tick.step)
        action = np.asarray(self.policy.forward(obs), dtype=np.float64).ravel().tolist()
        self.last_step, self.last_action = tick.step, action
        self._send_action(tick, action)
        self._write_log({"event": "action", "episode": tick.episode, "step": tick.step,
                         "action": action, "obs": obs.astype(np.float64).tolist()})

    def _send_action(self, tick: Tick, action: list[float]) -> None:
        self.agent.send(PROXY_ID, ACTION,
                        {"action": action, "episode": tick.episode, "step": tick.step})

    def _observe(self, tick: Tick) -> np.ndarray | None:
        """Request state until answered; ``None`` if a newer tick arrives meanwhile."""
        outstanding: set[int] = set()
        next_request = 0.0
        while True:
            now = time.monotonic()
            if now >= next_request:
                if outstanding:
                    log.warning("%s: no state_response after %.1fs; asking again",
                                self.agent_id, self.request_retry_s)
                outstanding.add(self.agent.send(
                    PROXY_ID, STATE_REQUEST,
                    {"owners": tick.owners, "episode": tick.episode, "step": tick.step}))
                next_request = now + self.request_retry_s
            answer: Message | None = None
            for m in self._fetch(min(self.poll_s, max(0.0, next_request - time.monotonic()))):
                if m.sender == PROXY_ID and m.type == STATE_RESPONSE:
                    if answer is None and m.payload.get("request_seq") in outstanding:
                        answer = m
                    continue  # answers to older requests carry an older state: drop
                self._backlog.append(m)
            if any(self._supersedes(m, tick) for m in self._backlog):
                return None
            if answer is not None:
                try:
                    return pad_to(observation_from_states(answer.payload["states"],
                                                          tick.owners), tick.obs_dim)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    log.warning("%s: unusable state_response (%s); asking again",
                                self.agent_id, exc)
                    next_request = 0.0
            if self._idle_too_long():
                raise TimeoutError(f"{self.agent_id}: the proxy never answered state_request "
                                   f"for step {tick.step} within {self.idle_timeout_s}s.")

    @staticmethod
    def _supersedes(m: Message, tick: Tick) -> bool:
        if m.sender != PROXY_ID:
            return False
        if m.type == SHUTDOWN:
            return True
        if m.type != TICK:
            return False
        ep, step = m.payload.get("episode"), m.payload.get("step")
        return ep != tick.episode or (type(step) is int and step > tick.step)


@dataclass
class AgentThread:
    """An :class:`AgentLoop` running in a daemon thread of this process.

    For a host on an in-memory broker: the same loop and protocol as an agent process,
    without a server. ``exit_code`` is the loop's (0 after ``shutdown``) once it ended;
    ``error`` what it raised, if anything, so a test can see why it stopped.
    """

    loop: AgentLoop
    exit_code: int | None = None
    error: BaseException | None = None
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        # daemon: a loop still waiting for a host that died must not keep Python alive
        self.thread = threading.Thread(target=self._run, name=f"agent-{self.loop.agent_id}",
                                       daemon=True)

    @classmethod
    def start(cls, loop: AgentLoop) -> AgentThread:
        handle = cls(loop)
        handle.thread.start()
        return handle

    def _run(self) -> None:
        try:
            self.exit_code = self.loop.run()
        except BaseException as exc:  # recorded for the caller; a thread cannot raise to it
            self.error = exc
            log.error("%s: agent loop stopped: %r", self.loop.agent_id, exc)

    @property
    def agent_id(self) -> str:
        return self.loop.agent_id

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """Wait up to ``timeout_s`` for the loop to end (send ``shutdown`` first);
        returns its exit code, ``None`` if it is still running."""
        self.thread.join(timeout_s)
        return self.exit_code


def main(argv: list[str] | None = None, prog: str = "python -m heron.distributed.agent",
         description: str = "Run one agent against a DistributedHost over Redis.") -> int:
    """The agent process's command line; a domain's entry point passes its own ``prog``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--agent", required=True, help="agent id, e.g. MG1")
    parser.add_argument("--redis-url", default=None,
                        help=f"default: ${REDIS_URL_ENV}, else {DEFAULT_REDIS_URL}. Less "
                             "safe than the variable: a password here is visible in `ps`")
    parser.add_argument("--namespace", default="heron",
                        help="key prefix; must match the host's (default: heron)")
    parser.add_argument("--policy", default="zero",
                        help="zero | random[:SEED] | replay:PATH ({agent} is substituted)")
    parser.add_argument("--log", default=None, help="append sent actions here (JSON lines)")
    parser.add_argument("--connect-timeout-s", type=float, default=10.0,
                        help="how long to ride out a broker outage before giving up")
    parser.add_argument("--idle-timeout-s", type=float, default=None,
                        help="exit if the host is silent this long (default: wait forever)")
    parser.add_argument("--request-retry-s", type=float, default=2.0)
    parser.add_argument("--no-auth", action="store_true",
                        help=f"run without {RUN_SECRET_ENV}: send unsigned messages and accept "
                             "unsigned ones (only against a host started with --no-auth)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s [{args.agent}] %(name)s: %(message)s")
    kind, _, _ = args.policy.partition(":")
    if kind not in ("zero", "random", "replay"):
        parser.error(f"unknown --policy {args.policy!r}")
    if kind == "replay":
        path = Path(args.policy.partition(":")[2].replace("{agent}", args.agent))
        if not path.is_file():
            parser.error(f"--policy replay file not found: {path}")
    if args.idle_timeout_s is not None and not math.isfinite(args.idle_timeout_s):
        args.idle_timeout_s = None
    secret = None if args.no_auth else secret_from_env()
    if secret is None and not args.no_auth:
        parser.error(f"{RUN_SECRET_ENV} is not set: the host signs every message with its run "
                     "secret and drops unsigned ones. Start agents with host.launch_agents() "
                     f"(or the runner), export the host's {RUN_SECRET_ENV}, or pass --no-auth "
                     "for a host started with --no-auth.")
    redis_url = args.redis_url or os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    for name in (RUN_SECRET_ENV, REDIS_URL_ENV):
        os.environ.pop(name, None)  # read once; whatever this process starts does not inherit
    try:
        broker = make_broker("redis", redis_url=redis_url, namespace=args.namespace,
                             connect_timeout_s=args.connect_timeout_s)
        if secret is not None:
            broker = SignedBroker(broker, secret)
    except BrokerError as exc:
        print(f"agent_process {args.agent}: {exc}", file=sys.stderr)
        return EXIT_BROKER
    except ValueError as exc:  # a secret too short to be one
        print(f"agent_process {args.agent}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        loop = AgentLoop(args.agent, broker, policy=args.policy, log_path=args.log,
                         request_retry_s=args.request_retry_s,
                         idle_timeout_s=args.idle_timeout_s)
        return loop.run()
    except BrokerError as exc:
        print(f"agent_process {args.agent}: {exc}", file=sys.stderr)
        return EXIT_BROKER
    except TimeoutError as exc:
        print(f"agent_process {args.agent}: {exc}", file=sys.stderr)
        return EXIT_IDLE
    finally:
        broker.close()


if __name__ == "__main__":
    sys.exit(main())

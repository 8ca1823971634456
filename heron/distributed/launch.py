"""Start agent processes for a :class:`~heron.distributed.host.DistributedHost`.

Each agent runs ``python -m heron.distributed.agent`` (or a domain's entry point that
wraps it). The Redis URL (it carries the server's password) and the run secret (the
key every message is signed with, :mod:`heron.messaging.auth`) go into the child's
*environment*, never on its command line, where ``ps`` shows them to every local user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heron.messaging.auth import RUN_SECRET_ENV, secret_from_env

#: the environment variable that hands agent processes the Redis URL (with its password)
REDIS_URL_ENV = "HERON_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: the module every agent process runs unless a domain names its own entry point
AGENT_MODULE = "heron.distributed.agent"


@dataclass
class AgentProcess:
    """A launched agent process; ``sent()`` reads back its action log."""

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
                  authenticate: bool = True, module: str = AGENT_MODULE) -> list[AgentProcess]:
    """Start one ``python -m <module>`` agent process per agent.

    ``policy`` is one spec for all or ``{agent: spec}``; ``idle_timeout_s`` makes an
    orphaned process exit on its own if the host dies. ``run_secret`` is the host's
    (``host.run_secret``; default ``HERON_RUN_SECRET`` from this environment): the
    agents sign with it and drop what is not signed with it. ``authenticate=False``
    starts them with ``--no-auth``, for a host built with ``authenticate=False``.
    ``module`` must accept :func:`heron.distributed.agent.main`'s arguments.
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
        cmd = [sys.executable, "-m", module,
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


__all__ = ["AGENT_MODULE", "AgentProcess", "DEFAULT_REDIS_URL", "REDIS_URL_ENV",
           "launch_agents"]

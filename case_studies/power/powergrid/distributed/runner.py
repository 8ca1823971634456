"""The power case study's distributed host and its command line.

:class:`DistributedEnvHost` is heron's :class:`~heron.distributed.host.DistributedHost`
(step-synchronised ticks, one tagged action per agent per step, ``on_missing``, signed
messages; documented there) built from a setup's ``env_config``: the config says where
the Redis server is (``message_broker: redis``, ``redis_url``), and the env is a
:class:`~powergrid.envs.multi_agent_microgrids.MultiAgentMicrogrids` (or ``env_cls``) on
heron's :class:`~heron.envs.execution.RemoteExecution`.

Run a whole deployment from the command line (host here, one process per agent)::

    python -m powergrid.distributed.runner --redis-url redis://127.0.0.1:6379/0 --steps 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from heron.distributed.host import DistributedHost
from heron.distributed.launch import (  # launch_agents: also imported from here
    DEFAULT_REDIS_URL,
    REDIS_URL_ENV,
    AgentProcess,
    launch_agents,
)
from heron.envs.execution import ExecutionMode
from heron.messaging.auth import RUN_SECRET_ENV, secret_from_env
from heron.messaging.base import MessageBroker
from powergrid.envs.networked_grid_env import NetworkedGridEnv

__all__ = ["DistributedEnvHost", "launch_agents", "main"]


class DistributedEnvHost(DistributedHost):
    """A :class:`DistributedHost` for a setup's ``env_config``.

    Args:
        env_config: a setup's ``env_config``. ``message_broker: redis`` and
            ``redis_url`` pick the server (or ``message_broker`` is a broker object);
            ``centralized`` is not read, since the host chooses the execution mode.
        env_cls: the env class (default :class:`MultiAgentMicrogrids`), built as
            ``env_cls(env_config, execution=mode)``.
        broker: an already built broker (overrides ``message_broker``).
        **kwargs: :class:`DistributedHost`'s (``namespace``, ``connect_timeout_s``,
            ``max_message_bytes``, ``action_timeout_s``, ``retick_s``, ``on_missing``,
            ``run_secret``, ``authenticate``).
    """

    def __init__(self, env_config: Mapping[str, Any], *,
                 env_cls: type[NetworkedGridEnv] | None = None,
                 broker: MessageBroker | None = None, **kwargs: Any) -> None:
        cfg = dict(env_config)
        redis_url = None
        if broker is None:
            kind = cfg.get("message_broker", "in_memory")
            if isinstance(kind, MessageBroker):
                broker = kind
            elif kind != "redis":
                raise ValueError(
                    f"DistributedEnvHost needs message_broker: redis (got {kind!r}): agent "
                    "processes cannot reach an in-memory broker. For in-process distributed "
                    "mode use the env itself with centralized: false. Start a server with "
                    "`make redis-up` and set redis_url."
                )
            else:
                redis_url = cfg.get("redis_url", DEFAULT_REDIS_URL)
        if env_cls is None:
            from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

            env_cls = MultiAgentMicrogrids

        def build(mode: ExecutionMode) -> NetworkedGridEnv:
            return env_cls(cfg, execution=mode)

        super().__init__(build, broker=broker, redis_url=redis_url, **kwargs)


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

"""One microgrid controller as its own OS process: heron's agent loop, under this name.

Usage (``DistributedEnvHost.launch_agents`` starts ``python -m heron.distributed.agent``,
the same program; this entry point is for starting controllers by hand)::

    HERON_REDIS_URL=redis://:PASSWORD@127.0.0.1:6379/0 HERON_RUN_SECRET=... \\
        python -m powergrid.distributed.agent_process --agent MG1 --policy random:0

Nothing in a controller is power-specific: each ``tick`` from the host says which
owners it observes and its action bounds, and the observation is built from the
proxy's answer. Options, policies and exit codes: :mod:`heron.distributed.agent`.
"""

from __future__ import annotations

import sys

from heron.distributed import agent


def main(argv: list[str] | None = None) -> int:
    return agent.main(argv, prog="python -m powergrid.distributed.agent_process",
                      description="Run one microgrid controller against a "
                                  "DistributedEnvHost over Redis.")


if __name__ == "__main__":
    sys.exit(main())

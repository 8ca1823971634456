"""Shared fixtures. ``redis_server`` runs a real redis-server for broker tests.

The fixture code lives in :mod:`heron.testing.redis_service` so the case-study suites
can use the same server fixtures (a conftest is not importable under
``--import-mode=importlib``); importing the names here registers them with pytest.
See that module for how the server is installed, started and restarted.
"""

from __future__ import annotations

from heron.testing.redis_service import (  # noqa: F401  (pytest fixtures, used by name)
    PERSISTENT_ARGS,
    REDIS_SERVICE,
    REPO_ROOT,
    RedisServer,
    free_port,
    redis_server,
    redis_url,
    spare_redis_server,
)
from heron.testing.registry_scratch import scratch_registry  # noqa: F401  (a fixture)

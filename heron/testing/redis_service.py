"""A real redis-server for tests: install, start, restart and stop it.

The fixtures live in an importable module, not in ``tests/conftest.py``, because
pytest's ``--import-mode=importlib`` gives conftest files no importable package name;
every suite that needs Redis (HERON's and the case studies') imports them from here
into its own conftest::

    from heron.testing.redis_service import redis_server, redis_url, spare_redis_server

The tests never skip merely because redis is absent: every server starts through
:func:`heron.testing.redis_server.ensure_redis_server`, which finds redis-server (also off
``PATH``) or installs it with the project's own ``scripts/redis_service.sh`` (apt-get on
Debian), the same path a user takes with ``make redis-up``. Every server requires its own
password, carried by ``server.url``. The session server runs with ``--appendonly yes
--appendfsync always`` so that streams survive the restarts the fault tests perform.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.testing.redis_server import (
    NO_PERSISTENCE_ARGS,
    PERSISTENT_ARGS,
    REDIS_SERVICE,
    REPO_ROOT,
    RedisServer,
    ensure_redis_server,
    free_port,
)

__all__ = [
    "NO_PERSISTENCE_ARGS",
    "PERSISTENT_ARGS",
    "REDIS_SERVICE",
    "REPO_ROOT",
    "RedisServer",
    "ensure_redis_server",
    "free_port",
    "redis_server",
    "redis_url",
    "spare_redis_server",
]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on 127.0.0.1 (free port, tmp dir) for the whole session."""
    server = RedisServer(port=free_port(), dir=tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session redis-server, ``redis://:PASSWORD@127.0.0.1:PORT/0``."""
    return redis_server.url


@pytest.fixture
def spare_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A throw-away server *without persistence* a test may stop for good or restart
    to lose its data (outage and data-loss tests)."""
    server = RedisServer(port=free_port(), dir=tmp_path / "redis", args=NO_PERSISTENCE_ARGS)
    server.start()
    try:
        yield server
    finally:
        server.stop()

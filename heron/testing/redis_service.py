"""A real redis-server for tests: install, start, restart and stop it.

The fixtures live in an importable module, not in ``tests/conftest.py``, because
pytest's ``--import-mode=importlib`` gives conftest files no importable package name;
every suite that needs Redis (HERON's and the case studies') imports them from here
into its own conftest::

    from heron.testing.redis_service import redis_server, redis_url, spare_redis_server

The tests never skip merely because redis is absent: the fixtures install it with the
project's own ``scripts/redis_service.sh install`` (apt-get on Debian), the same path a
user takes with ``make redis-up``. The session server runs with ``--appendonly yes
--appendfsync always`` so that streams survive the restarts the fault tests perform.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.testing.redis_server import (
    PERSISTENT_ARGS,
    REDIS_SERVICE,
    REPO_ROOT,
    RedisServer,
    _service,
    free_port,
)

__all__ = [
    "PERSISTENT_ARGS",
    "REDIS_SERVICE",
    "REPO_ROOT",
    "RedisServer",
    "free_port",
    "redis_server",
    "redis_url",
    "spare_redis_server",
]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on 127.0.0.1 (free port, tmp dir) for the whole session."""
    _service("install")
    server = RedisServer(port=free_port(), dir=tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session redis-server, e.g. ``redis://127.0.0.1:PORT/0``."""
    return redis_server.url


@pytest.fixture
def spare_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A throw-away, non-persistent server a test may stop for good (outage tests)."""
    _service("install")
    server = RedisServer(port=free_port(), dir=tmp_path / "redis", args=())
    server.start()
    try:
        yield server
    finally:
        server.stop()

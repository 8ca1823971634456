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

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVICE = REPO_ROOT / "scripts" / "redis_service.sh"
PERSISTENT_ARGS = ("--appendonly", "yes", "--appendfsync", "always")

__all__ = [
    "PERSISTENT_ARGS",
    "REDIS_SERVICE",
    "RedisServer",
    "free_port",
    "redis_server",
    "redis_url",
    "spare_redis_server",
]


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service(*args: str, timeout: float = 300) -> None:
    if not REDIS_SERVICE.exists():
        raise RuntimeError(
            f"{REDIS_SERVICE} not found: the Redis fixtures need a source checkout of HERON "
            "(they drive scripts/redis_service.sh, like `make redis-up`)."
        )
    proc = subprocess.run(["bash", str(REDIS_SERVICE), *args], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"scripts/redis_service.sh {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}"
        )


@dataclass
class RedisServer:
    """A redis-server we started; ``restart()`` keeps port, data dir and AOF."""

    port: int
    dir: Path
    args: tuple[str, ...] = field(default=PERSISTENT_ARGS)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __str__(self) -> str:
        return self.url

    def start(self) -> None:
        _service("start", str(self.port), str(self.dir), *self.args, timeout=30)

    def stop(self) -> None:
        _service("stop", str(self.dir), timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()


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

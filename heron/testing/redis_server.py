"""A private redis-server on 127.0.0.1: install, start, restart, stop (no pytest needed).

Used by the test fixtures (``heron.testing.redis_service``), the benchmarks and the
distributed-mode example, so that every one of them starts Redis the same way a user
does with ``make redis-up``: the project's own ``scripts/redis_service.sh`` (which
installs Debian's redis-server when it is missing).
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVICE = REPO_ROOT / "scripts" / "redis_service.sh"
PERSISTENT_ARGS = ("--appendonly", "yes", "--appendfsync", "always")


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


def install() -> None:
    """Install redis-server if missing (idempotent)."""
    _service("install")


@contextmanager
def private_redis(args: tuple[str, ...] = ()) -> Iterator[RedisServer]:
    """Install if needed, start a throw-away server on a free port, stop it afterwards."""
    install()
    server = RedisServer(port=free_port(), dir=Path(tempfile.mkdtemp(prefix="heron-redis-")),
                         args=args)
    server.start()
    try:
        yield server
    finally:
        server.stop()

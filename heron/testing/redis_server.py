"""A private, password-protected redis-server on 127.0.0.1 (no pytest needed).

Used by the test fixtures (``heron.testing.redis_service``), the benchmarks, the docs and
the distributed-mode example, so that every one of them starts Redis the way a user does
with ``make redis-up``: through the project's own ``scripts/redis_service.sh``.

Every start goes through :func:`ensure_redis_server`, the one place that finds the
redis-server binary (on ``PATH`` or, when ``PATH`` lacks it, in /usr/bin, /usr/local/bin,
/usr/sbin, ... or wherever ``dpkg -L redis-server`` says) and installs it with apt-get
when it is missing. The script then runs that absolute path, so a fresh machine, or one
whose ``PATH`` does not list redis-server, needs no manual step.

Each :class:`RedisServer` requires a password of its own (``secrets.token_urlsafe``),
binds to 127.0.0.1 only and keeps an append-only file by default; its :attr:`~RedisServer.url`
carries the password (``redis://:PASSWORD@127.0.0.1:PORT/0``), so every client handed the
URL can authenticate and nobody else can.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVICE = REPO_ROOT / "scripts" / "redis_service.sh"
#: what the tests use: every write is on disk before the reply, so a restart loses nothing
PERSISTENT_ARGS = ("--appendonly", "yes", "--appendfsync", "always")
#: the script's default (also ``make redis-up``): append-only file, fsync once a second
DEFAULT_ARGS = ("--appendonly", "yes")
#: no persistence at all: a restart forgets every stream (for data-loss tests)
NO_PERSISTENCE_ARGS = ("--appendonly", "no")

_INSTALL_TIMEOUT_S = 900  # apt-get update + install on a slow mirror
_found: Path | None = None


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> str:
    """Run ``scripts/redis_service.sh ARGS``; its stdout, or a RuntimeError with its output."""
    if not REDIS_SERVICE.exists():
        raise RuntimeError(
            f"{REDIS_SERVICE} not found: the Redis helpers need a source checkout of HERON "
            "(they drive scripts/redis_service.sh, like `make redis-up`)."
        )
    proc = subprocess.run(["bash", str(REDIS_SERVICE), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(
            f"scripts/redis_service.sh {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def ensure_redis_server() -> Path:
    """The absolute path of a working redis-server, installing it first if it is missing.

    The one function every start goes through (``RedisServer.start``, ``private_redis``,
    the pytest fixtures; ``make redis-up`` runs the same script). The lookup and the
    apt-get install live in ``scripts/redis_service.sh install`` so the shell and Python
    paths cannot drift apart. The answer is cached per process while the file exists.
    """
    global _found
    if _found is not None and os.access(_found, os.X_OK):
        return _found
    out = _service("install", timeout=_INSTALL_TIMEOUT_S).strip().splitlines()
    path = Path(out[-1]) if out else None
    if path is None or not path.is_absolute() or not os.access(path, os.X_OK):
        raise RuntimeError(
            f"scripts/redis_service.sh install did not report a usable redis-server "
            f"(got {out!r}); install redis-server (>= 6.2) and retry."
        )
    _found = path
    return path


def install() -> Path:
    """Install redis-server if missing (idempotent); its absolute path."""
    return ensure_redis_server()


@dataclass
class RedisServer:
    """A redis-server we started; ``restart()`` keeps port, data dir, password and AOF.

    ``password`` defaults to a fresh random token per server; it is never shown by
    ``repr``/``str`` (use :attr:`url` to hand it to a client).
    """

    port: int
    dir: Path
    args: tuple[str, ...] = field(default=PERSISTENT_ARGS)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    @property
    def url(self) -> str:
        """``redis://:PASSWORD@127.0.0.1:PORT/0``: what clients (and agent processes) need."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def __str__(self) -> str:  # for logs: the URL with the password masked
        return f"redis://:***@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = ensure_redis_server()
        _service("start", str(self.port), str(self.dir), *self.args, timeout=60,
                 env={"HERON_REDIS_SERVER": str(binary), "HERON_REDIS_PASSWORD": self.password})

    def stop(self) -> None:
        _service("stop", str(self.dir), timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """Alive and answering PING with our password."""
        try:
            _service("status", str(self.dir), timeout=30,
                     env={"HERON_REDIS_SERVER": str(ensure_redis_server())})
        except RuntimeError:
            return False
        return True


@contextmanager
def private_redis(args: tuple[str, ...] = DEFAULT_ARGS) -> Iterator[RedisServer]:
    """Install if needed, start a throw-away server on a free port, stop it afterwards.

    It has its own password (in ``server.url``) and an append-only file by default.
    """
    server = RedisServer(port=free_port(), dir=Path(tempfile.mkdtemp(prefix="heron-redis-")),
                         args=args)
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""Starting a private redis-server: installs itself, works off PATH, requires a password.

The fresh-machine tests run in a subprocess whose ``PATH`` has every executable of this
one *except* the redis binaries (a temp dir of symlinks), so they exercise the real path
a user takes on a machine where redis-server was never installed, or is installed but not
on ``PATH``: :func:`ensure_redis_server` must find or install it, and the servers must
start from its absolute path.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from heron.testing.redis_server import REDIS_SERVICE, REPO_ROOT, RedisServer, free_port

INSTALL_TIMEOUT_S = 900  # a first run may apt-get install redis-server


def path_without_redis(tmp: Path) -> str:
    """A PATH (one dir of symlinks) with every executable on ours but no ``redis-*``."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not os.path.isdir(d):
            continue
        for entry in os.scandir(d):
            name = entry.name
            if name.startswith("redis-") or (bin_dir / name).exists():
                continue  # first PATH entry wins, as in a lookup
            if entry.is_file() and os.access(entry.path, os.X_OK):
                (bin_dir / name).symlink_to(entry.path)
    return str(bin_dir)


def run_without_redis_on_path(tmp: Path, code: str, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_REDIS")}
    env.update(PATH=path_without_redis(tmp), MPLBACKEND="Agg", NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=timeout)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def raw_ping(port: int) -> str:
    """A bare RESP2 PING, as any client without the password would send it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(200).decode()


def test_fresh_machine_start_ping_stop_without_redis_on_path(tmp_path):
    code = textwrap.dedent(f"""
        import json, shutil, socket
        from pathlib import Path
        import redis
        from heron.testing.redis_server import (RedisServer, ensure_redis_server,
                                                free_port, private_redis)

        out = {{"on_path": shutil.which("redis-server")}}
        binary = ensure_redis_server()
        out["binary"] = str(binary)
        server = RedisServer(port=free_port(), dir=Path({str(tmp_path / "srv")!r}))
        server.start()
        out["ping"] = redis.Redis.from_url(server.url).ping()
        try:
            redis.Redis(host="127.0.0.1", port=server.port).ping()
            out["anonymous"] = "allowed"
        except redis.AuthenticationError:
            out["anonymous"] = "refused"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(b"PING\\r\\n")  # a bare RESP2 client without the password
            out["raw_reply"] = conn.recv(200).decode()
        server.stop()
        try:
            redis.Redis.from_url(server.url, socket_connect_timeout=1).ping()
            out["after_stop"] = "still answering"
        except redis.ConnectionError:
            out["after_stop"] = "refused"
        with private_redis() as other:
            out["private_ping"] = redis.Redis.from_url(other.url).ping()
        print(json.dumps(out))
    """)
    out = run_without_redis_on_path(tmp_path, code, INSTALL_TIMEOUT_S)
    assert out["on_path"] is None  # the subprocess really could not see redis-server
    binary = Path(out["binary"])
    assert binary.is_absolute() and binary.name == "redis-server"
    assert os.access(binary, os.X_OK)
    assert out["ping"] is True and out["private_ping"] is True
    assert out["anonymous"] == "refused"
    assert out["raw_reply"].startswith("-NOAUTH")
    assert out["after_stop"] == "refused"


def distributed_doc_block() -> str:
    """The docs/distributed.md python block that starts a private server."""
    text = (REPO_ROOT / "docs" / "distributed.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    starting = [b for b in blocks if "private_redis(" in b or "RedisServer(" in b]
    assert len(starting) == 1, "expected one block in docs/distributed.md to start a server"
    return starting[0]


def test_distributed_doc_block_runs_without_redis_on_path(tmp_path):
    code = distributed_doc_block() + '\nimport json\nprint(json.dumps({"ok": True}))\n'
    assert run_without_redis_on_path(tmp_path, code, INSTALL_TIMEOUT_S) == {"ok": True}


@pytest.fixture
def server(tmp_path):
    srv = RedisServer(port=free_port(), dir=tmp_path / "redis")
    srv.start()
    yield srv
    srv.stop()


def test_password_is_per_server_private_and_never_on_a_command_line(server, tmp_path):
    other = RedisServer(port=free_port(), dir=tmp_path / "other")
    assert other.password != server.password and len(server.password) >= 24
    assert server.url == f"redis://:{server.password}@127.0.0.1:{server.port}/0"
    assert server.password not in str(server) and server.password not in repr(server)

    for name in ("password", "redis.conf"):
        mode = stat.S_IMODE((server.dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    assert stat.S_IMODE(server.dir.stat().st_mode) == 0o700
    pid = int((server.dir / "redis.pid").read_text())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    assert server.password not in cmdline

    url = subprocess.run(["bash", str(REDIS_SERVICE), "url", str(server.dir)], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert url == server.url  # what `make redis-up` prints for the .redis dir
    assert server.is_running()
    assert raw_ping(server.port).startswith("-NOAUTH")
    client = redis.Redis(host="127.0.0.1", port=server.port, password="wrong-password")
    with pytest.raises(redis.AuthenticationError):
        client.ping()


def test_restart_keeps_password_and_data(server):
    client = redis.Redis.from_url(server.url)
    client.set("k", "v")
    client.close()
    server.restart()
    client = redis.Redis.from_url(server.url)
    assert client.get("k") == b"v"  # AOF on by default
    client.close()


def test_script_start_generates_a_password_and_persists_by_default(tmp_path):
    """What `make redis-up` does: no password given, so the script makes one."""
    port, d = free_port(), tmp_path / "made"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_REDIS")}
    subprocess.run(["bash", str(REDIS_SERVICE), "start", str(port), str(d)], check=True,
                   env=env, timeout=INSTALL_TIMEOUT_S, capture_output=True)
    try:
        url = subprocess.run(["bash", str(REDIS_SERVICE), "url", str(d)], check=True,
                             capture_output=True, text=True).stdout.strip()
        password = (d / "password").read_text().strip()
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", password)
        assert url == f"redis://:{password}@127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, decode_responses=True)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        client.close()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).ping()
    finally:
        subprocess.run(["bash", str(REDIS_SERVICE), "stop", str(d)], check=True)


def test_bad_explicit_binary_is_a_clear_error(tmp_path):
    env = {**os.environ, "HERON_REDIS_SERVER": str(tmp_path / "nope")}
    proc = subprocess.run(["bash", str(REDIS_SERVICE), "install"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "HERON_REDIS_SERVER" in proc.stderr and "not a working redis-server" in proc.stderr


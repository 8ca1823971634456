#!/usr/bin/env bash
# Install, start and stop a throw-away redis-server for HERON's distributed mode.
#
#   scripts/redis_service.sh install                 # apt-get install redis-server if missing
#   scripts/redis_service.sh start PORT DIR [ARGS]   # daemon on 127.0.0.1:PORT, files in DIR
#   scripts/redis_service.sh stop DIR                # stop the daemon started in DIR
#   scripts/redis_service.sh status DIR              # exit 0 if the daemon in DIR is alive
#
# Extra ARGS after DIR are passed to redis-server (the tests add
# `--appendonly yes --appendfsync always` so streams survive a restart).
# The server binds to 127.0.0.1 only and, by default, persists nothing: it is a
# message bus for one experiment, not a database.
set -euo pipefail

die() { echo "redis_service: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

cmd_install() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "redis-server is not installed and apt-get is unavailable; install redis-server (>= 6.2) yourself."
    echo "redis_service: installing redis-server with apt-get ..." >&2
    # Keep the package's init script from starting a system-wide redis on :6379;
    # we only want the binary. Docker images usually ship this file already.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"
        created_policy=1
    fi
    local rc=0 log
    log="$(mktemp)"
    {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends redis-server
    } >"$log" 2>&1 || rc=$?
    if [ "$created_policy" -eq 1 ]; then as_root rm -f "$policy"; fi
    if [ "$rc" -ne 0 ]; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        die "apt-get install redis-server failed (exit $rc)."
    fi
    rm -f "$log"
    command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after install."
}

alive() {  # a zombie (exited, not yet reaped by a lazy PID 1) counts as dead
    kill -0 "$1" 2>/dev/null || return 1
    ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

pid_of() {  # prints the pid recorded in DIR/redis.pid if that process is alive
    local pidfile="$1/redis.pid"
    [ -f "$pidfile" ] || return 1
    local pid
    pid="$(cat "$pidfile" 2>/dev/null)" || return 1
    [ -n "$pid" ] && alive "$pid" || return 1
    echo "$pid"
}

cmd_start() {
    [ $# -ge 2 ] || die "usage: start PORT DIR [redis-server args...]"
    local port="$1" dir="$2"
    shift 2
    [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'."
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found; run '$0 install' first."
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if pid_of "$dir" >/dev/null; then
        die "a redis-server from $dir is already running (pid $(pid_of "$dir")); stop it first."
    fi
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
        --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" \
        --logfile "$dir/redis.log" --save "" --appendonly no "$@" \
        || die "redis-server failed to start; see $dir/redis.log"
    # Wait until it answers, so callers can connect right away.
    local i
    for i in $(seq 1 100); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    die "redis-server on 127.0.0.1:$port did not answer PING within 10 s."
}

cmd_stop() {
    [ $# -ge 1 ] || die "usage: stop DIR"
    local dir="$1" pid i
    pid="$(pid_of "$dir")" || return 0   # nothing running: stopping is idempotent
    kill -TERM "$pid" 2>/dev/null || true  # redis flushes the AOF (if any) on SIGTERM
    for i in $(seq 1 100); do
        alive "$pid" || { rm -f "$dir/redis.pid"; return 0; }
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/redis.pid"
}

cmd_status() {
    [ $# -ge 1 ] || die "usage: status DIR"
    pid_of "$1" >/dev/null
}

case "${1:-}" in
    install) shift; cmd_install "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    *) die "usage: $0 {install|start PORT DIR [args]|stop DIR|status DIR}" ;;
esac

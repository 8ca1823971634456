#!/usr/bin/env bash
# Install, start and stop a throw-away, password-protected redis-server for HERON.
#
#   scripts/redis_service.sh install                 # print redis-server's path; apt-get it if missing
#   scripts/redis_service.sh start PORT DIR [ARGS]   # daemon on 127.0.0.1:PORT, files in DIR
#   scripts/redis_service.sh url DIR                 # redis://:PASSWORD@127.0.0.1:PORT/0 of DIR's server
#   scripts/redis_service.sh stop DIR                # stop the daemon started in DIR
#   scripts/redis_service.sh status DIR              # exit 0 if the daemon in DIR is alive and answers
#
# `start` installs redis-server itself when it is missing (so does `install`), and runs
# the binary by its absolute path: it is found on PATH or, if PATH lacks it, in the usual
# places (/usr/bin, /usr/local/bin, /usr/sbin, ..., `dpkg -L redis-server`).
# HERON_REDIS_SERVER=/abs/path/redis-server picks the binary explicitly.
#
# Security: the server binds to 127.0.0.1 only and requires a password generated per
# start (or taken from HERON_REDIS_PASSWORD, which the Python helpers set so a restart
# keeps it). The password is written to DIR/password and DIR/redis.conf, both mode 0600
# in a 0700 DIR, never on a command line. Clients get it inside the URL (`url DIR`).
#
# Persistence: the append-only file is on by default (`--appendonly yes`, fsync every
# second), so streams and consumer groups survive a restart. Extra ARGS after DIR go to
# redis-server and win (the tests add `--appendfsync always`; `--appendonly no` turns
# persistence off).
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

works() {  # $1 is an executable that runs and says it is a redis binary
    [ -n "$1" ] && [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qi redis
}

locate() {  # locate NAME: print the absolute path of a working NAME (redis-server|redis-cli)
    local name="$1" candidate dir
    local -a candidates=()
    candidate="$(command -v "$name" 2>/dev/null || true)"
    [ -n "$candidate" ] && candidates+=("$candidate")
    for dir in /usr/bin /usr/local/bin /usr/sbin /usr/local/sbin /bin /sbin /snap/bin \
               /opt/homebrew/bin /opt/redis/bin; do
        candidates+=("$dir/$name")
    done
    if command -v dpkg >/dev/null 2>&1; then
        local pkg
        for pkg in redis-server redis-tools; do
            while IFS= read -r candidate; do
                [ "$(basename "$candidate")" = "$name" ] && candidates+=("$candidate")
            done < <(dpkg -L "$pkg" 2>/dev/null || true)
        done
    fi
    for candidate in "${candidates[@]}"; do
        if works "$candidate"; then
            # absolute, symlinks kept: Debian's redis-server is a link to redis-check-rdb,
            # which behaves as a server only when called by that name
            candidate="$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate")"
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

server_bin() {  # the redis-server to run: HERON_REDIS_SERVER, else one found on this machine
    if [ -n "${HERON_REDIS_SERVER:-}" ]; then
        works "$HERON_REDIS_SERVER" \
            || die "HERON_REDIS_SERVER=$HERON_REDIS_SERVER is not a working redis-server."
        echo "$HERON_REDIS_SERVER"
        return 0
    fi
    locate redis-server
}

cli_bin() {  # redis-cli next to the server first (same version), then anywhere
    local server="$1"
    if works "$(dirname "$server")/redis-cli"; then
        echo "$(dirname "$server")/redis-cli"
        return 0
    fi
    locate redis-cli || die "redis-cli not found (it ships with redis-server: apt-get install redis-tools)."
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 \
        || die "redis-server is not installed and apt-get is unavailable; install redis-server (>= 6.2) yourself, or point HERON_REDIS_SERVER at it."
    echo "redis_service: installing redis-server with apt-get ..." >&2
    # Keep the package's init script from starting a system-wide redis on :6379;
    # we only want the binary. Docker images usually ship this file already.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"
        created_policy=1
    fi
    # apt and dpkg run helpers (gpgv, ldconfig, ...) as other users, found on PATH: give
    # them the standard system PATH, as sudo's secure_path would, whatever ours is.
    local sys_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    local rc=0 log
    log="$(mktemp)"
    {
        as_root env PATH="$sys_path" DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && as_root env PATH="$sys_path" DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            -o DPkg::Lock::Timeout=300 --no-install-recommends redis-server
    } >"$log" 2>&1 || rc=$?
    if [ "$created_policy" -eq 1 ]; then as_root rm -f "$policy"; fi
    if [ "$rc" -ne 0 ]; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        die "apt-get install redis-server failed (exit $rc)."
    fi
    rm -f "$log"
}

ensure_server() {  # print the absolute path of a working redis-server, installing it if missing
    local bin
    if [ -n "${HERON_REDIS_SERVER:-}" ]; then server_bin; return 0; fi  # chosen: never install
    if bin="$(server_bin)"; then echo "$bin"; return 0; fi
    # one installer at a time (parallel test sessions); re-check once we hold the lock
    local lock="${TMPDIR:-/tmp}/heron-redis-install.lock"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$lock"
        flock -w 600 9 || die "timed out waiting for another redis-server install ($lock)."
    fi
    if ! bin="$(server_bin)"; then
        apt_install
        bin="$(server_bin)" || die "redis-server still not found after apt-get install (looked on PATH, in /usr/bin, /usr/local/bin, /usr/sbin and in dpkg -L redis-server)."
    fi
    if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
    echo "$bin"
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

new_password() {  # 24 random bytes, URL-safe base64 (no padding): safe in a URL and a conf file
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

ping_ok() {  # ping_ok CLI PORT PASSWORD
    [ "$(REDISCLI_AUTH="$3" "$1" --no-auth-warning -h 127.0.0.1 -p "$2" ping 2>/dev/null)" = "PONG" ]
}

cmd_install() {
    ensure_server
}

cmd_start() {
    [ $# -ge 2 ] || die "usage: start PORT DIR [redis-server args...]"
    local port="$1" dir="$2"
    shift 2
    [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'."
    local server cli
    server="$(ensure_server)"
    cli="$(cli_bin "$server")"
    umask 077  # DIR, the password, the conf file, the AOF: readable by this user only
    mkdir -p "$dir"
    chmod 700 "$dir"
    dir="$(cd "$dir" && pwd)"
    if pid_of "$dir" >/dev/null; then
        die "a redis-server from $dir is already running (pid $(pid_of "$dir")); stop it first."
    fi
    local password="${HERON_REDIS_PASSWORD:-}"
    if [ -z "$password" ]; then
        password="$(new_password)"
    fi
    [[ "$password" =~ ^[A-Za-z0-9_.~-]{16,}$ ]] \
        || die "HERON_REDIS_PASSWORD must be at least 16 characters of [A-Za-z0-9_.~-] (URL-safe)."
    printf '%s\n' "$password" >"$dir/password"
    printf 'requirepass %s\n' "$password" >"$dir/redis.conf"
    printf '%s\n' "$port" >"$dir/port"
    chmod 600 "$dir/password" "$dir/redis.conf" "$dir/port"
    "$server" "$dir/redis.conf" --port "$port" --bind 127.0.0.1 --protected-mode yes \
        --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" \
        --logfile "$dir/redis.log" --save "" --appendonly yes --appendfsync everysec "$@" \
        || die "redis-server ($server) failed to start; see $dir/redis.log"
    # Wait until it answers, so callers can connect right away.
    local i
    for i in $(seq 1 100); do
        if ping_ok "$cli" "$port" "$password"; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    die "redis-server on 127.0.0.1:$port did not answer PING within 10 s."
}

cmd_url() {
    [ $# -ge 1 ] || die "usage: url DIR"
    local dir="$1"
    [ -r "$dir/password" ] && [ -r "$dir/port" ] \
        || die "no server was started in $dir (no $dir/password); run '$0 start PORT $dir' (make redis-up)."
    echo "redis://:$(cat "$dir/password")@127.0.0.1:$(cat "$dir/port")/0"
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
    local dir="$1" server
    pid_of "$dir" >/dev/null || return 1
    server="$(server_bin)" || return 1
    ping_ok "$(cli_bin "$server")" "$(cat "$dir/port")" "$(cat "$dir/password")"
}

case "${1:-}" in
    install) shift; cmd_install "$@" ;;
    start) shift; cmd_start "$@" ;;
    url) shift; cmd_url "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    *) die "usage: $0 {install|start PORT DIR [args]|url DIR|stop DIR|status DIR}" ;;
esac

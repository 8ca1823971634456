"""Redis Streams transport: the broker for agents that live in separate processes.

It keeps :class:`~heron.messaging.memory.InMemoryBroker`'s semantics so code tested
in-process behaves the same over the wire:

* **Topics** are declared: their names live in the set ``<namespace>:__topics__`` so
  ``has_topic`` and the unknown-topic check work across processes. A topic's messages
  are the stream ``<namespace>:<topic>``; its sequence counter is
  ``<namespace>:<topic>:seq``.
* **Per-consumer copies**: every subscriber gets its own consumer group (group name =
  consumer name), so each subscriber sees every message, like the in-memory per-consumer
  queues. Two processes that subscribe with the *same* consumer name share one group.
* **Subscribe position**: a new group starts at ``$`` (the end of the stream at subscribe
  time): a subscriber receives the messages published *after* it subscribed, exactly as
  in memory. Re-subscribing an existing consumer keeps its position, so a consumer that
  restarts picks up what was published while it was away.
* **Data loss**: a server without persistence (no ``--appendonly yes``) forgets every
  topic, stream, group and counter when it restarts. The broker notices (a topic it
  declared is gone from the registry, or a group it created is missing) and, by default
  (``on_data_loss="recreate"``), logs a warning that says the server lost its data and
  to enable AOF, counts it in :attr:`RedisBroker.data_losses`, re-declares its topics
  and re-creates its groups at the start of the new, empty streams (so nothing
  published *after* the loss is missed), resets its duplicate filters (seq numbers
  restart at 1) and carries on. What was in flight at the restart (published but not
  consumed, or consumed but not acked) is gone: at-least-once delivery holds only with
  persistence, and the warning and the counter make the gap visible instead of silent.
  ``on_data_loss="raise"`` raises a :class:`BrokerError` saying so instead.
* **Ordering**: ``publish`` runs one Lua script that checks the topic, ``INCR``-s the
  sequence number and ``XADD``-s the entry atomically, so stream order equals ``seq``
  order even with many concurrent publishers.
* **Duplicate filter**: each consumer remembers exactly which seqs it took (a
  :class:`~heron.messaging.base.SeenWindow`), so a re-appended copy is dropped. A seq is
  trusted only if the topic's counter has reached it: the script ``INCR``-s before it
  ``XADD``-s, so a genuine entry never carries a seq above the counter. An entry that
  does (written with a raw ``XADD``, e.g. ``seq=10**12``) is dropped and logged, never
  adopted, so no single entry can make the filter drop later messages.
* **At-least-once**: consumed entries stay in the group's pending list until ``ack``;
  ``pending``/``redeliver_pending`` read them back with ``XREADGROUP ... 0`` (also from a
  fresh process using the same consumer name).
* **Faults**: every command is retried with exponential back-off on connection errors
  until ``connect_timeout_s`` has passed since the first failure (a restarting server),
  then a :class:`BrokerError` names the URL. ``publish`` carries a client-side id so a
  retry after a lost reply does not append the message twice. A refused password
  (``NOAUTH``/``WRONGPASS``) is not retried: it is a :class:`BrokerError` at once that
  says the URL needs the server's password.
* **Secrets**: the URL may carry a password (``redis://:PASSWORD@host:port/db``); it is
  masked (``***``) in every log line, error message and ``repr``.
* **Hostile input**: entries that are not valid JSON messages, bigger than
  ``max_message_bytes`` or with an impossible seq are logged (``logging.warning``),
  counted in :attr:`RedisBroker.dropped_entries`, acknowledged so they are not
  redelivered forever, and skipped; consuming never crashes on them. The broker does
  not check who sent a message: wrap it in :class:`~heron.messaging.auth.SignedBroker`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.exceptions import AuthenticationError as RedisAuthenticationError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on the optional install
    raise ImportError(
        "heron.messaging.redis needs the redis package. "
        "Install it with: pip install -e '.[distributed]'"
    ) from exc

from heron.messaging.base import (
    BrokerError,
    Message,
    MessageBroker,
    SeenWindow,
    UnknownTopicError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB; a state snapshot is far smaller
ON_DATA_LOSS = ("recreate", "raise")
_TRANSIENT = (RedisConnectionError, RedisTimeoutError)  # BusyLoadingError is a ConnectionError

# KEYS: registry set, seq counter, stream, publish-id key
# ARGV: topic, JSON body, publish-id ttl (s)
# Returns {seq, stream id}; {-1, ''} when the topic is not declared. If the publish id
# was already used (a retry after a lost reply) the first outcome is returned unchanged.
_PUBLISH_LUA = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return {-1, ''}
end
local prev = redis.call('GET', KEYS[4])
if prev then
  local sep = string.find(prev, ' ', 1, true)
  return {tonumber(string.sub(prev, 1, sep - 1)), string.sub(prev, sep + 1)}
end
local seq = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[3], '*', 'seq', tostring(seq), 'data', ARGV[2])
redis.call('SET', KEYS[4], tostring(seq) .. ' ' .. id, 'EX', tonumber(ARGV[3]))
return {seq, id}
"""


def _redact(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _json_default(obj: Any) -> Any:
    # numpy arrays/scalars are common in payloads; the in-memory broker passes them as-is
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


class RedisBroker(MessageBroker):
    """:class:`MessageBroker` over Redis Streams with one consumer group per consumer.

    Parameters
    ----------
    redis_url:
        ``redis://[:password@]host:port/db``.
    namespace:
        Prefix of every key, so several experiments can share one server.
    connect_timeout_s:
        How long to keep retrying (with exponential back-off) once the server stops
        answering, before raising :class:`BrokerError`. Also bounds the first connection.
    max_retries:
        Upper bound on retries of one operation, on top of the deadline.
    block_ms:
        Longest single blocking ``XREADGROUP``; ``consume(timeout_s=...)`` waits in slices
        of this size so a long wait never outlives the socket timeout.
    max_message_bytes:
        Larger messages are refused on publish (``ValueError``) and dropped on consume.
    socket_timeout_s:
        Socket read timeout; a server that stops answering counts as a connection fault.
    publish_dedup_ttl_s:
        How long a publish id is remembered, i.e. the window in which a retried publish is
        recognised and not appended twice.
    on_data_loss:
        What to do when the server turns out to have lost its data (restarted without
        persistence): ``"recreate"`` (default) re-declares this broker's topics and
        groups, logs a warning and counts it in :attr:`data_losses`; ``"raise"`` raises
        :class:`BrokerError`.
    """

    def __init__(
        self,
        redis_url: str = "redis://127.0.0.1:6379/0",
        namespace: str = "heron",
        connect_timeout_s: float = 5.0,
        max_retries: int = 50,
        block_ms: int = 1000,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        socket_timeout_s: float = 10.0,
        publish_dedup_ttl_s: int = 300,
        on_data_loss: str = "recreate",
    ) -> None:
        if not namespace or not isinstance(namespace, str):
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}.")
        if connect_timeout_s <= 0:
            raise ValueError(f"connect_timeout_s must be > 0, got {connect_timeout_s}.")
        if block_ms < 1 or block_ms >= socket_timeout_s * 1000:
            raise ValueError(
                f"block_ms must be >= 1 and below socket_timeout_s*1000 "
                f"({socket_timeout_s * 1000:.0f}), got {block_ms}."
            )
        if on_data_loss not in ON_DATA_LOSS:
            raise ValueError(
                f"on_data_loss must be one of {', '.join(ON_DATA_LOSS)}, got {on_data_loss!r}."
            )
        self.redis_url = redis_url
        self.namespace = namespace
        self.connect_timeout_s = float(connect_timeout_s)
        self.max_retries = int(max_retries)
        self.block_ms = int(block_ms)
        self.max_message_bytes = int(max_message_bytes)
        self.publish_dedup_ttl_s = int(publish_dedup_ttl_s)
        self.on_data_loss = on_data_loss
        #: how many times this broker found that the server had lost its data (both modes)
        self.data_losses = 0
        #: stream entries dropped as unusable (malformed, oversized, impossible seq)
        self.dropped_entries = 0
        self._closed = False
        # what this broker declared / subscribed: after a data loss it re-creates these
        self._declared: set[str] = set()
        self._subscribed: set[tuple[str, str]] = set()
        # We own the retry policy (deadline + back-off); redis-py must not retry on its own,
        # or the "unreachable after connect_timeout_s" promise would not hold.
        try:
            self._client = redis.Redis.from_url(
                redis_url,
                socket_connect_timeout=min(self.connect_timeout_s, 2.0),
                socket_timeout=socket_timeout_s,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,  # bytes: sizes are checked in bytes, not characters
            )
        except ValueError as exc:
            raise BrokerError(
                f"Invalid redis_url {_redact(redis_url)!r}: {exc}. "
                "Expected redis://host:port/db (default redis://127.0.0.1:6379/0)."
            ) from exc
        self._publish_script = self._client.register_script(_PUBLISH_LUA)
        # per (topic, consumer): the seqs handed to the application (duplicate filter),
        # seq -> stream id of delivered-but-unacked entries (XACK needs the id), the id of
        # the last entry handed out, and whether a read for new entries failed mid-flight
        self._seen: dict[tuple[str, str], SeenWindow] = {}
        # per topic: the last value read of its seq counter (no genuine seq is above it)
        self._counter: dict[str, int] = {}
        self._ids: dict[tuple[str, str], dict[int, bytes]] = {}
        self._last_id: dict[tuple[str, str], bytes] = {}
        self._inflight_lost: set[tuple[str, str]] = set()
        try:
            self._call("connect", self._client.ping)  # fail early, with the clear message
        except BrokerError:
            self._client.close()
            raise

    # -- keys ----------------------------------------------------------------------
    @property
    def _registry_key(self) -> str:
        return f"{self.namespace}:__topics__"

    def _stream_key(self, topic: str) -> str:
        return f"{self.namespace}:{topic}"

    def _seq_key(self, topic: str) -> str:
        return f"{self.namespace}:{topic}:seq"

    def _publish_id_key(self, topic: str, publish_id: str) -> str:
        return f"{self.namespace}:__pub__:{topic}:{publish_id}"

    # -- plumbing ------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BrokerError("RedisBroker is closed; create a new one.")

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``, riding out a server restart with exponential back-off.

        The deadline counts from the first failure, so a long-lived broker gets the full
        ``connect_timeout_s`` for every outage, not a budget shared across its lifetime.
        """
        self._check_open()
        first_failure: float | None = None
        attempt = 0
        while True:
            try:
                return fn()
            except RedisAuthenticationError as exc:
                raise self._auth_error(what, exc) from exc
            except _TRANSIENT as exc:
                now = time.monotonic()
                if first_failure is None:
                    first_failure = now
                    log.warning("RedisBroker: lost %s while trying to %s (%s); reconnecting",
                                _redact(self.redis_url), what, exc)
                attempt += 1
                left = first_failure + self.connect_timeout_s - now
                if left <= 0 or attempt > self.max_retries:
                    raise BrokerError(
                        f"Redis unreachable at {_redact(self.redis_url)} while trying to "
                        f"{what}: gave up after {now - first_failure:.1f}s and {attempt} "
                        f"attempt(s) (connect_timeout_s={self.connect_timeout_s}). Last error: "
                        f"{exc}. Is redis-server running? Start one with `make redis-up`, "
                        "or check redis_url."
                    ) from exc
                time.sleep(min(0.05 * 2 ** (attempt - 1), 1.0, left))

    def _auth_error(self, what: str, exc: Exception) -> BrokerError:
        has_password = urlsplit(self.redis_url).password is not None
        fix = ("the password in redis_url is wrong" if has_password else
               "the server requires a password and redis_url has none")
        return BrokerError(
            f"Redis at {_redact(self.redis_url)} refused to {what}: {fix} ({exc}). Use "
            "redis_url=redis://:PASSWORD@host:port/db with the server's password "
            "(`make redis-up` prints that URL; `bash scripts/redis_service.sh url .redis` "
            "prints it again)."
        )

    def _unknown_topic(self, topic: str) -> UnknownTopicError:
        topics = self.topics
        known = ", ".join(topics[:10]) or "none"
        hint = ""
        if not topics:
            hint = (f" The server has no topics at all in namespace {self.namespace!r}: if it "
                    "restarted without persistence it lost them (run it with --appendonly "
                    "yes, as `make redis-up` does); the process that declared them declares "
                    "them again when it next uses the broker.")
        return UnknownTopicError(
            f"Unknown topic {topic!r}. Declare it with create_topic() or subscribe() "
            f"first. Known topics: {known}.{hint}"
        )

    # -- data loss -------------------------------------------------------------------
    def _data_lost(self, evidence: str) -> None:
        """The server forgot what we created (restart without persistence): say so loudly.

        Then either raise (``on_data_loss="raise"``) or re-create our topics and groups so
        the run goes on. Groups are re-created at ``0``, the start of the new stream: it
        holds only messages published since the loss, which the consumer has not seen.
        """
        self.data_losses += 1
        if self.on_data_loss == "raise":
            # forget what we had created: the caller declares and subscribes again
            self._declared.clear()
            self._subscribed.clear()
            self._forget_positions()
            raise BrokerError(
                f"The Redis server at {_redact(self.redis_url)} lost its data ({evidence}): "
                "it was restarted (or flushed) without persistence, so messages in flight "
                "are gone. Run it with the append-only file (--appendonly yes, as `make "
                "redis-up` does), or use on_data_loss='recreate' to carry on."
            )
        log.warning(
            "RedisBroker: the Redis server at %s lost its data (%s): it was restarted or "
            "flushed without persistence. Messages published before that and not yet "
            "consumed or acked are gone; sequence numbers restart at 1. Re-declaring %d "
            "topic(s) and %d subscription(s) in namespace %r and carrying on (data loss #%d "
            "for this broker). Enable the append-only file (--appendonly yes, as `make "
            "redis-up` does) so a restart keeps them.",
            _redact(self.redis_url), evidence, len(self._declared), len(self._subscribed),
            self.namespace, self.data_losses)
        if self._declared:
            topics = sorted(self._declared)
            self._call("re-declare topics",
                       lambda: self._client.sadd(self._registry_key, *topics))
        for topic, consumer in sorted(self._subscribed):
            self._call("re-subscribe", lambda t=topic, c=consumer: self._create_group(t, c, "0"))
        self._forget_positions()

    def _forget_positions(self) -> None:
        """Every stream is new: old seqs and ids mean nothing to the duplicate filter."""
        for state in (self._seen, self._ids, self._last_id, self._counter):
            state.clear()
        self._inflight_lost.clear()

    def _create_group(self, topic: str, consumer: str, start: str) -> bool:
        """``XGROUP CREATE ... MKSTREAM``; False if the group already exists."""
        try:
            self._client.xgroup_create(self._stream_key(topic), consumer, id=start,
                                       mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False  # already subscribed: keep its position and pending list
        return True

    def _not_subscribed(self, topic: str, consumer: str) -> UnknownTopicError:
        if not self.has_topic(topic):
            return self._unknown_topic(topic)
        return UnknownTopicError(
            f"Consumer {consumer!r} is not subscribed to {topic!r}; call subscribe() first."
        )

    def _read_group(self, topic: str, consumer: str, start: bytes | str,
                    count: int | None = None, block: int | None = None
                    ) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        """One ``XREADGROUP``; a missing group becomes the in-memory broker's error.

        A missing group this broker created means the server lost its data: handled by
        :meth:`_data_lost`, then the read is tried once more on the re-created group.
        """
        key = self._stream_key(topic)
        for attempt in (1, 2):
            try:
                reply = self._client.xreadgroup(consumer, consumer, {key: start},
                                                count=count, block=block)
                break
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise BrokerError(
                        f"XREADGROUP on {topic!r} for {consumer!r} failed: {exc}") from exc
                if attempt == 2 or (topic, consumer) not in self._subscribed:
                    raise self._not_subscribed(topic, consumer) from None
                self._data_lost(f"consumer group {consumer!r} of topic {topic!r} is gone")
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3 shape
            return [e for entries in reply.values() for e in (entries[0] if entries else [])]
        return [e for _key, entries in reply for e in entries]

    def _decode(self, topic: str, consumer: str, entry_id: bytes,
                fields: dict[bytes, bytes] | None) -> Message | str:
        """A :class:`Message`, or the reason the entry is unusable."""
        if not fields:  # redis-py shows an entry trimmed while pending as {} (or None)
            return "entry was trimmed from the stream"
        data = fields.get(b"data")
        if data is None:
            return "no 'data' field"
        if len(data) > self.max_message_bytes:
            return f"oversized ({len(data)} bytes > max_message_bytes={self.max_message_bytes})"
        try:
            seq = int(fields.get(b"seq", b""))
        except ValueError:
            return "missing or non-integer 'seq' field"
        if seq < 1:
            return f"invalid seq {seq}"
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            return f"not valid JSON ({exc})"
        if not isinstance(body, dict):
            return f"JSON body is a {type(body).__name__}, not an object"
        try:
            msg = Message.from_dict(body)
        except (TypeError, ValueError) as exc:
            return str(exc)
        for name in ("sender", "topic", "type"):
            if not isinstance(getattr(msg, name), str):
                return f"field {name!r} is not a string"
        if not isinstance(msg.payload, dict):
            return "payload is not a JSON object"
        if msg.topic != topic:
            return f"message says topic {msg.topic!r} but arrived on {topic!r}"
        msg.seq = seq
        return msg

    def _reject(self, topic: str, consumer: str, entry_id: bytes, reason: str) -> None:
        self.dropped_entries += 1
        log.warning("RedisBroker: dropped message %s on topic %r for consumer %r: %s",
                    entry_id.decode(errors="replace"), topic, consumer, reason)

    def _xack(self, topic: str, consumer: str, ids: list[bytes]) -> None:
        if ids:
            key = self._stream_key(topic)
            self._call("ack", lambda: self._client.xack(key, consumer, *ids))

    # -- topics --------------------------------------------------------------------
    def create_topic(self, topic: str) -> None:
        self._check_open()
        if not topic or not isinstance(topic, str):
            raise ValueError(f"Topic name must be a non-empty string, got {topic!r}.")
        if topic.startswith("__") or topic.endswith(":seq"):
            # these would collide with the broker's own keys
            raise ValueError(
                f"Topic name {topic!r} is reserved (no leading '__', no trailing ':seq')."
            )
        self._call("create a topic", lambda: self._client.sadd(self._registry_key, topic))
        self._declared.add(topic)

    def has_topic(self, topic: str) -> bool:
        known = bool(self._call("check a topic",
                                lambda: self._client.sismember(self._registry_key, topic)))
        if not known and topic in self._declared:
            self._data_lost(f"topic {topic!r} it declared is no longer registered")
            return True  # re-declared (with on_data_loss="raise" we never get here)
        return known

    @property
    def topics(self) -> list[str]:
        members = self._call("list topics", lambda: self._client.smembers(self._registry_key))
        return sorted(m.decode() for m in members)

    def subscribe(self, topic: str, consumer: str) -> None:
        if not consumer or not isinstance(consumer, str):
            raise ValueError(f"Consumer name must be a non-empty string, got {consumer!r}.")
        pair = (topic, consumer)
        known = pair in self._subscribed
        self.create_topic(topic)
        # a group we had created and is gone was lost with the server's data: the new
        # stream holds only messages published since, so start at its beginning
        start = "0" if known else "$"
        if self._call("subscribe", lambda: self._create_group(topic, consumer, start)):
            if known:
                self._data_lost(f"consumer group {consumer!r} of topic {topic!r} is gone")
            # A brand-new group (first subscribe, or the server lost its data and seq
            # restarted at 1): duplicate-filter state from an older group would wrongly
            # drop the new, low-numbered messages.
            for state in (self._seen, self._ids, self._last_id):
                state.pop(pair, None)
            self._inflight_lost.discard(pair)
        self._subscribed.add(pair)

    # -- traffic -------------------------------------------------------------------
    def publish(self, message: Message) -> int:
        self._check_open()
        if not isinstance(message, Message):
            raise TypeError(f"publish expects a Message, got {type(message).__name__}.")
        body = message.to_dict()
        body.pop("seq", None)  # the broker assigns it; the stream field is authoritative
        if body.get("auth") is None:
            body.pop("auth", None)  # unsigned: keep the wire format as it was
        try:
            data = json.dumps(body, default=_json_default, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Cannot send message {message.type!r} on {message.topic!r}: payload is not "
                f"JSON-serialisable ({exc})."
            ) from exc
        size = len(data.encode())
        if size > self.max_message_bytes:
            raise ValueError(
                f"Message {message.type!r} on {message.topic!r} is {size} bytes, over "
                f"max_message_bytes={self.max_message_bytes}; receivers would drop it."
            )
        topic = message.topic
        publish_id = uuid.uuid4().hex  # same id on every retry: the script dedups it
        keys = [self._registry_key, self._seq_key(topic), self._stream_key(topic),
                self._publish_id_key(topic, publish_id)]
        def send() -> int:
            seq, _entry_id = self._call(
                "publish",
                lambda: self._publish_script(keys=keys,
                                             args=[topic, data, self.publish_dedup_ttl_s]),
            )
            return int(seq)

        seq = send()
        if seq < 0 and topic in self._declared:
            self._data_lost(f"topic {topic!r} it declared is no longer registered")
            seq = send()
        if seq < 0:
            raise self._unknown_topic(topic)
        message.seq = seq
        return message.seq

    def _read_new(self, topic: str, consumer: str, count: int | None,
                  block: int | None) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        """New entries for ``consumer`` (``>``), recovering ones lost in flight.

        If a ``>`` read fails after the server moved entries to our pending list but
        before the reply arrived, those entries will never come back from ``>``. So after
        such a failure we first re-read our own pending entries newer than the last one
        we handed out; they are new to the application.
        """
        pair = (topic, consumer)
        if pair in self._inflight_lost:
            entries = self._read_group(topic, consumer, self._last_id.get(pair, b"0"), count)
            if count is None or len(entries) < count:
                self._inflight_lost.discard(pair)
            if entries:
                return entries
        try:
            return self._read_group(topic, consumer, ">", count, block)
        except _TRANSIENT:
            self._inflight_lost.add(pair)
            raise

    def _decode_all(self, topic: str, consumer: str,
                    entries: list[tuple[bytes, dict[bytes, bytes] | None]],
                    to_ack: list[bytes]) -> list[tuple[bytes, Message]]:
        """Decoded entries with a possible seq; the rest are logged and marked for ack."""
        decoded: list[tuple[bytes, Message]] = []
        for entry_id, fields in entries:
            msg = self._decode(topic, consumer, entry_id, fields)
            if isinstance(msg, str):
                self._reject(topic, consumer, entry_id, msg)
                to_ack.append(entry_id)
            else:
                decoded.append((entry_id, msg))
        if decoded and max(m.seq for _, m in decoded) > self._counter.get(topic, 0):
            raw = self._call("read a seq counter",
                             lambda: self._client.get(self._seq_key(topic)))
            self._counter[topic] = int(raw or 0)  # one read per batch, only when needed
        ceiling = self._counter.get(topic, 0)
        plausible: list[tuple[bytes, Message]] = []
        for entry_id, msg in decoded:
            if msg.seq > ceiling:
                self._reject(topic, consumer, entry_id,
                             f"seq {msg.seq} is above the topic's counter {ceiling}: not "
                             "published through a broker (forged or written by hand); "
                             "ignored so it cannot make the duplicate filter drop later "
                             "messages")
                to_ack.append(entry_id)
            else:
                plausible.append((entry_id, msg))
        return plausible

    def _accept(self, topic: str, consumer: str,
                entries: list[tuple[bytes, dict[bytes, bytes] | None]],
                out: list[Message], to_ack: list[bytes]) -> None:
        pair = (topic, consumer)
        ids = self._ids.setdefault(pair, {})
        seen = self._seen.setdefault(pair, SeenWindow())
        if entries:
            self._last_id[pair] = entries[-1][0]
        for entry_id, msg in self._decode_all(topic, consumer, entries, to_ack):
            if seen.seen(msg.seq):
                # already handed out once (a re-sent copy): drop it, don't let it loop
                log.debug("RedisBroker: dropped duplicate seq %d on %r for %r",
                          msg.seq, topic, consumer)
                to_ack.append(entry_id)
                continue
            seen.add(msg.seq)
            ids[msg.seq] = entry_id
            out.append(msg)

    def consume(self, topic: str, consumer: str, max_messages: int | None = None,
                timeout_s: float = 0.0) -> list[Message]:
        """New messages in FIFO order; waits up to ``timeout_s`` if there are none yet."""
        self._check_open()
        if max_messages is not None and max_messages <= 0:
            return []
        deadline = time.monotonic() + max(0.0, timeout_s)
        out: list[Message] = []
        to_ack: list[bytes] = []
        try:
            while True:
                want = None if max_messages is None else max_messages - len(out)
                left_ms = int((deadline - time.monotonic()) * 1000)
                block = min(self.block_ms, left_ms) if not out and left_ms >= 1 else None

                def read(want: int | None = want, block: int | None = block
                         ) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
                    return self._read_new(topic, consumer, want, block)

                entries = self._call("consume", read)
                self._accept(topic, consumer, entries, out, to_ack)
                if max_messages is not None and len(out) >= max_messages:
                    break
                if entries and want is not None and len(entries) >= want:
                    continue  # a full batch, partly skipped: there may be more waiting
                if out:
                    break
                if entries:
                    continue  # everything was junk; keep waiting for real messages
                if time.monotonic() >= deadline:
                    break
        finally:
            self._xack(topic, consumer, to_ack)
        return out

    def ack(self, topic: str, consumer: str, seqs: int | list[int]) -> None:
        self._check_open()
        wanted = [seqs] if isinstance(seqs, int) else list(seqs)
        ids = self._ids.setdefault((topic, consumer), {})
        if any(s not in ids for s in wanted):
            self.pending(topic, consumer)  # learn ids of entries delivered to an earlier run
        found = [ids.pop(s) for s in wanted if s in ids]
        self._xack(topic, consumer, found)

    def pending(self, topic: str, consumer: str) -> list[Message]:
        """Delivered-but-unacked messages for ``consumer``, oldest first (they stay pending)."""
        self._check_open()
        pair = (topic, consumer)
        entries = self._call("read pending messages",
                             lambda: self._read_group(topic, consumer, "0"))
        ids = self._ids.setdefault(pair, {})
        seen = self._seen.setdefault(pair, SeenWindow())
        out: list[Message] = []
        to_ack: list[bytes] = []
        for entry_id, msg in self._decode_all(topic, consumer, entries, to_ack):
            ids[msg.seq] = entry_id
            seen.add(msg.seq)  # redelivered here: a copy arriving later is a duplicate
            out.append(msg)
        self._xack(topic, consumer, to_ack)
        return out

    def reset(self) -> None:
        """Empty every stream and pending list; topics, groups and seq counters stay.

        Each stream is trimmed and its groups re-created at ``$`` inside one MULTI, so a
        concurrent reader never sees a missing group. Sequence numbers keep counting up,
        which keeps every consumer's duplicate filter valid across episodes.
        """
        for topic in self.topics:
            key = self._stream_key(topic)

            def reset_stream(key: str = key) -> None:
                try:
                    groups = self._client.xinfo_groups(key)
                except ResponseError:  # stream not created yet: nothing to drop
                    return
                pipe = self._client.pipeline(transaction=True)
                pipe.xtrim(key, maxlen=0, approximate=False)
                for group in groups:
                    name = group["name"]
                    pipe.xgroup_destroy(key, name)
                    pipe.xgroup_create(key, name, id="$")
                pipe.execute()

            self._call("reset", reset_stream)
        self._ids.clear()
        self._last_id.clear()
        self._inflight_lost.clear()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.close()
        except Exception:  # closing must never raise, even over a dead server
            log.debug("RedisBroker: error while closing", exc_info=True)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"RedisBroker({_redact(self.redis_url)!r}, namespace={self.namespace!r}, {state})"

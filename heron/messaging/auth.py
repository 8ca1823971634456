"""Message authenticity: every message carries an HMAC keyed by a per-run secret.

A broker password (Redis ``requirepass``) decides who may *reach* the server, not who
*sent* a message: any client holding it can publish on any topic and claim to be any
agent, e.g. a forged ``shutdown`` "from the proxy". :class:`SignedBroker` wraps any
:class:`~heron.messaging.base.MessageBroker` and closes that gap for the processes of
one run, which share a secret nobody else has:

* ``publish`` adds ``message.auth = {"v": 1, "id": INSTANCE, "n": N, "sig": HEX}``:
  ``sig`` is HMAC-SHA256 (stdlib :mod:`hmac`, :mod:`hashlib`) over the canonical JSON of
  the payload, type, sender, recipient, topic, the sender's instance id and its own
  sequence number ``n``. The broker's ``seq`` is assigned *after* signing, so it cannot
  be covered; ``(instance, n)`` is what the signature pins instead.
* ``consume``/``pending`` verify every message. One that is unsigned, signed with another
  key, altered after signing (payload, type, sender, recipient or topic: a signed
  message redirected to another inbox fails too) or a replay of an ``(instance, n)``
  this consumer already took is dropped: acknowledged (so it is not redelivered
  forever), logged (``logging.warning``, naming topic, claimed sender, type and reason;
  never the secret) and recorded in :attr:`SignedBroker.rejected`. Consuming never
  raises because of such a message.

The secret is text (``new_run_secret()``: 256 random bits as hex) so it can travel in
the environment variable :data:`RUN_SECRET_ENV` to processes a launcher starts; never put
it on a command line, where ``ps`` shows it to every local user.

Limits, said plainly: every holder of the secret can sign as anyone (one key per run,
not per agent), so this keeps out outsiders that have only the broker password, not a
compromised agent process. Messages are authenticated, not encrypted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heron.messaging.base import Message, MessageBroker, SeenWindow

log = logging.getLogger(__name__)

#: the environment variable a launcher uses to hand the run secret to its processes
RUN_SECRET_ENV = "HERON_RUN_SECRET"
AUTH_VERSION = 1
MIN_SECRET_BYTES = 16  # 128 bits; new_run_secret() makes 256


def new_run_secret() -> str:
    """A fresh per-run secret: 256 random bits as 64 hex characters."""
    return secrets.token_hex(32)


def secret_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The run secret from :data:`RUN_SECRET_ENV`, or ``None`` when it is not set."""
    value = (os.environ if environ is None else environ).get(RUN_SECRET_ENV, "").strip()
    return value or None


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"The run secret is {len(key)} bytes; it needs at least {MIN_SECRET_BYTES} "
            "(use heron.messaging.auth.new_run_secret())."
        )
    return key


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, as every transport sends them
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


def canonical_bytes(message: Message, instance: str, n: int) -> bytes:
    """What the signature covers, as bytes both ends compute identically.

    Sorted keys, no whitespace, floats by ``repr`` (exact through a JSON round trip),
    NaN/Infinity as JSON's extensions, so a sender that signs a numpy payload and a
    receiver that verifies the decoded JSON agree byte for byte.
    """
    body = {"v": AUTH_VERSION, "id": instance, "n": n, "topic": message.topic,
            "type": message.type, "sender": message.sender, "recipient": message.recipient,
            "payload": message.payload}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=_json_default).encode()


class MessageSigner:
    """Signs as one sender instance and verifies anyone's signature with the run key.

    ``instance`` is random per signer (per process, in practice), so two processes
    playing the same agent one after the other (a restart) never reuse an ``(id, n)``.
    """

    def __init__(self, secret: str | bytes) -> None:
        self._key = _key(secret)
        self.instance = secrets.token_hex(8)
        self._n = 0
        self._lock = threading.Lock()  # two threads publishing must never share an n

    def _digest(self, message: Message, instance: str, n: int) -> str:
        return hmac.new(self._key, canonical_bytes(message, instance, n),
                        hashlib.sha256).hexdigest()

    def sign(self, message: Message) -> Message:
        """Set ``message.auth`` (in place, like ``publish`` sets ``seq``); returns it."""
        with self._lock:
            self._n += 1
            n = self._n
        try:
            sig = self._digest(message, self.instance, n)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Cannot sign message {message.type!r} on {message.topic!r}: payload is not "
                f"JSON-serialisable with string keys ({exc})."
            ) from exc
        message.auth = {"v": AUTH_VERSION, "id": self.instance, "n": n, "sig": sig}
        return message

    def verify(self, message: Message) -> str | None:
        """``None`` if ``message`` carries a valid signature, else why not."""
        auth = message.auth
        if auth is None:
            return "unsigned message (no auth block)"
        if not isinstance(auth, dict):
            return "malformed auth block"
        if auth.get("v") != AUTH_VERSION:
            return f"unsupported auth version {auth.get('v')!r}"
        instance, n, sig = auth.get("id"), auth.get("n"), auth.get("sig")
        if not isinstance(instance, str) or type(n) is not int or not isinstance(sig, str):
            return "malformed auth block"
        try:
            expected = self._digest(message, instance, n)
        except (TypeError, ValueError):
            return "payload cannot be canonicalised"
        if not hmac.compare_digest(expected, sig):
            return ("bad signature (not signed with this run's secret, or altered after "
                    "signing)")
        return None


@dataclass(frozen=True)
class Rejection:
    """One message :class:`SignedBroker` dropped, as recorded in ``rejected``."""

    topic: str
    consumer: str
    sender: str  # as claimed by the message: unverified by definition
    type: str
    seq: int
    reason: str


class SignedBroker(MessageBroker):
    """A broker whose messages are signed on publish and verified on receipt.

    Args:
        inner: the transport (Redis for separate processes; in memory works too).
        secret: the run secret every process of the run shares.
        replay_window: how many ``n`` per sender instance are remembered exactly (see
            :class:`~heron.messaging.base.SeenWindow`).

    Attributes the inner broker has and this class does not (``data_losses``,
    ``redis_url``, ...) are read through, so the wrapper can stand in for it.
    """

    def __init__(self, inner: MessageBroker, secret: str | bytes,
                 replay_window: int = 4096) -> None:
        if isinstance(inner, SignedBroker):
            raise TypeError("SignedBroker: inner broker is already signed.")
        self.inner = inner
        self._signer = MessageSigner(secret)
        self._replay_window = replay_window
        #: every message dropped for failing the check, oldest first
        self.rejected: list[Rejection] = []
        self._seen: dict[tuple[str, str, str, str], SeenWindow] = {}

    @property
    def instance(self) -> str:
        """This sender's instance id (in every ``auth`` block it signs)."""
        return self._signer.instance

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "inner":  # not during __init__ / unpickling
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- topics --------------------------------------------------------------------
    def create_topic(self, topic: str) -> None:
        self.inner.create_topic(topic)

    def has_topic(self, topic: str) -> bool:
        return self.inner.has_topic(topic)

    def subscribe(self, topic: str, consumer: str) -> None:
        self.inner.subscribe(topic, consumer)

    @property
    def topics(self) -> list[str]:
        return self.inner.topics  # type: ignore[attr-defined]

    # -- traffic -------------------------------------------------------------------
    def publish(self, message: Message) -> int:
        if not isinstance(message, Message):
            raise TypeError(f"publish expects a Message, got {type(message).__name__}.")
        self._signer.sign(message)
        return self.inner.publish(message)

    def _problem(self, topic: str, consumer: str, msg: Message, fresh: bool) -> str | None:
        reason = self._signer.verify(msg)
        if reason is not None:
            return reason
        auth = msg.auth or {}
        window = self._seen.setdefault((topic, consumer, msg.sender, auth["id"]),
                                       SeenWindow(self._replay_window))
        if fresh and window.seen(auth["n"]):
            return f"replayed message (sender instance {auth['id']} n={auth['n']} already taken)"
        window.add(auth["n"])
        return None

    def _filter(self, topic: str, consumer: str, msgs: list[Message],
                fresh: bool) -> list[Message]:
        """The authentic messages; the rest are acked, logged and recorded."""
        good: list[Message] = []
        bad: list[int] = []
        for msg in msgs:
            reason = self._problem(topic, consumer, msg, fresh)
            if reason is None:
                good.append(msg)
                continue
            bad.append(msg.seq)
            self.rejected.append(Rejection(topic, consumer, msg.sender, msg.type, msg.seq,
                                           reason))
            log.warning("SignedBroker: dropped %r seq=%s on %r for %r claiming to be from "
                        "%r: %s", msg.type, msg.seq, topic, consumer, msg.sender, reason)
        if bad:
            self.inner.ack(topic, consumer, bad)
        return good

    def consume(self, topic: str, consumer: str, max_messages: int | None = None,
                timeout_s: float = 0.0) -> list[Message]:
        """Authentic new messages; waits out ``timeout_s`` if only forged ones came."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            left = deadline - time.monotonic()
            msgs = self.inner.consume(topic, consumer, max_messages, max(0.0, left))
            good = self._filter(topic, consumer, msgs, fresh=True)
            if good or not msgs or time.monotonic() >= deadline:
                return good

    def ack(self, topic: str, consumer: str, seqs: int | list[int]) -> None:
        self.inner.ack(topic, consumer, seqs)

    def pending(self, topic: str, consumer: str) -> list[Message]:
        """Delivered-but-unacked messages (verified; redelivery is not a replay)."""
        return self._filter(topic, consumer, self.inner.pending(topic, consumer), fresh=False)

    def redeliver_pending(self, topic: str, consumer: str) -> list[Message]:
        return self._filter(topic, consumer, self.inner.redeliver_pending(topic, consumer),
                            fresh=False)

    def reset(self) -> None:
        # instance counters keep counting, so the replay windows stay valid
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"SignedBroker({self.inner!r})"

"""Message brokers: how agents talk in distributed mode.

``InMemoryBroker`` is the embedded default. ``RedisBroker`` (``heron.messaging.redis``)
talks to a real redis-server and is imported lazily because it needs the ``redis``
package.
"""

from heron.messaging.base import (
    BrokerError,
    Message,
    MessageBroker,
    UnknownTopicError,
    make_broker,
)
from heron.messaging.memory import InMemoryBroker

__all__ = [
    "BrokerError",
    "InMemoryBroker",
    "Message",
    "MessageBroker",
    "UnknownTopicError",
    "make_broker",
]

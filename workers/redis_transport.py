"""kombu's Redis transport with one fix: a worker lives through the broker going away while it
holds unacknowledged messages.

With kombu 5.x (5.7.0 included), when the connection to Redis is lost the worker's consumer
releases the connection; closing the channel restores the channel's unacknowledged messages,
which needs a Redis client, which needs the transport's connection parameters — but the
transport has already dropped its client. The ``AttributeError`` that follows is not one of
the connection errors the worker knows to ride out, so the worker stops with "Unrecoverable
error" and no task runs until something restarts it. Here that case is a connection error
instead, and the worker reconnects as it does for any broker outage.

Nothing is lost either way: the messages stay in Redis's unacknowledged set until the
visibility timeout gives them back, and rectify does not depend on them — a batch is a set of
leased rows in the database, claimed again when its lease runs out.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:  # the transport was closed under this channel
            raise RedisConnectionError("the connection to the broker is closed")
        return super()._connparams(asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel

"""Listen on this node's Redis channels (``node:<id>`` and ``nodes``) and hand each message to the hub.

The listener is also how a node notices Redis come and go: a lost
connection tells the reaper to wait (``Reaper.redis_lost``); each
resubscription tells it Redis is back and asks the hub to re-assert what
it holds (``upkeep.reassert``), whether Redis restarted or the connection
only blinked: cheap, idempotent, and whole before anyone looks.
"""

from __future__ import annotations

import logging

import gevent
import redis

log = logging.getLogger("gateway.hub")

#: The listener retries quickly: its reconnect is what triggers the
#: re-assert after a Redis restart (target: the cluster whole within 2 s).
LISTEN_BACKOFF_MIN = 0.1
LISTEN_BACKOFF_MAX = 1.0


def listen(hub, reaper) -> None:
    """Run for ever (in its own greenlet): subscribe, dispatch, resubscribe with backoff."""
    live, settings = hub.live, hub.settings
    backoff = LISTEN_BACKOFF_MIN
    lost = False
    while True:
        pubsub = None
        try:
            pubsub = live.redis.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(live.key("node", settings.node_id), live.key("nodes"))
            backoff = LISTEN_BACKOFF_MIN
            if lost:
                log.info("node channel back: re-asserting what this node holds")
                lost = False
            reaper.redis_back()
            hub.request_reassert()
            for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                hub.on_bus_message(message["data"])
        except redis.RedisError as exc:
            reaper.redis_lost()
            if not lost:
                log.warning("node channel lost (%s); retrying every %.1f s at most", exc, LISTEN_BACKOFF_MAX)
            lost = True
        finally:
            if pubsub is not None:
                try:
                    pubsub.close()
                except redis.RedisError:
                    pass
        gevent.sleep(backoff)
        backoff = min(backoff * 2, LISTEN_BACKOFF_MAX)

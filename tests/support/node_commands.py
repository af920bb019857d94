"""Listening to the node bus: the commands gateway nodes are sent over Redis pub/sub."""

from __future__ import annotations

import json
import time


class Commands:
    """Collect the commands published to gateway nodes (Redis pub/sub), as hubs would get them."""

    def __init__(self, app):
        live = app.extensions["ponte.live"]
        self.pubsub = live.redis.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(live.key("node*"))
        self.seen: list[dict] = []

    def wait(self, predicate, timeout: float = 3.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for cmd in self.seen:
                if predicate(cmd):
                    return cmd
            msg = self.pubsub.get_message(timeout=0.1)
            if msg and msg.get("type") == "pmessage":
                self.seen.append(json.loads(msg["data"]))
        raise AssertionError(f"no such node command; saw {self.seen}")

    def drain(self) -> list[dict]:
        while True:
            msg = self.pubsub.get_message(timeout=0.2)
            if msg is None:
                return self.seen
            if msg.get("type") == "pmessage":
                self.seen.append(json.loads(msg["data"]))

    def close(self):
        self.pubsub.close()

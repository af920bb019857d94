"""The longest a gevent loop was held, measured from inside the patched process.

For the child scripts of ``tests/stores`` (they patch first, as ``python -m gateway serve``
does): a greenlet sleeps ``tick`` and notes how late it woke.
"""

from __future__ import annotations

import time

import gevent


class LoopWatch:
    def __init__(self, tick: float = 0.005):
        self.tick = tick
        self.worst = 0.0
        gevent.spawn(self._run)

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            gevent.sleep(self.tick)
            now = time.monotonic()
            self.worst = max(self.worst, now - last)
            last = now

    def held(self, fn) -> dict:
        """Run ``fn()``: its seconds, the longest the loop was held meanwhile, and what it returned."""
        gevent.sleep(0.05)
        self.worst = 0.0
        t0 = time.monotonic()
        value = fn()
        return {"seconds": time.monotonic() - t0, "loop_held": self.worst, "value": value}

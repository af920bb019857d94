"""When the agent redials a gateway it lost: quick at first, then exponential with full jitter."""

from __future__ import annotations

import random
import time

#: Redial schedule (see ``Backoff``): ceilings of the quick phase, its length, then the
#: exponential phase's first ceiling and cap.
QUICK_CEILINGS = (0.5, 1.0, 2.0)
QUICK_WINDOW = 30.0
BACKOFF_BASE = 4.0
BACKOFF_MAX = 60.0


class Backoff:
    """When to redial the gateway: quick while a healthy gateway is likely just restarting,
    exponential with full jitter once the outage looks long.

    ``reset()`` (the agent lost a connection that had been healthy, or was asked to
    reconnect) starts a quick phase of ``QUICK_WINDOW`` seconds whose ceilings are
    ``QUICK_CEILINGS`` (the last one repeats): an agent redials within half a second, then
    about every second, so a fleet is back within ~2 s of a restarted gateway listening.
    After the window the ceiling doubles from ``BACKOFF_BASE`` to ``BACKOFF_MAX``. Every
    delay is drawn uniformly from [``MIN_DELAY``, ceiling] (full jitter): agents that lost
    the same gateway spread out instead of arriving in one wave, and a draw of 0 never
    makes a busy loop. A new ``Backoff`` starts in a quick phase (a PC booting while its
    network comes up). Deterministic with ``rng`` and ``clock``.
    """

    MIN_DELAY = 0.1

    def __init__(self, *, quick: tuple[float, ...] = QUICK_CEILINGS, window: float = QUICK_WINDOW,
                 base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX, rng=None, clock=None):
        self.quick, self.window, self.base, self.cap = quick, window, base, cap
        self._rng, self._clock = rng or random.random, clock or time.monotonic
        self.reset()

    def reset(self) -> None:
        """Start a quick phase now."""
        self.since = self._clock()
        self.tries = 0    # redials since reset(), quick phase included
        self.slow = 0     # redials after the quick phase

    @property
    def ceiling(self) -> float:
        """The largest delay the next ``next()`` may return."""
        if self._clock() - self.since < self.window:
            return self.quick[min(self.tries, len(self.quick) - 1)]
        return min(self.cap, self.base * (2 ** min(self.slow, 32)))

    def next(self) -> float:
        quick = self._clock() - self.since < self.window
        ceiling = self.ceiling
        self.tries += 1
        if not quick and ceiling < self.cap:
            self.slow += 1
        return self.MIN_DELAY + self._rng() * max(0.0, ceiling - self.MIN_DELAY)

"""A live session through a real gateway, timed by one-pixel RFB round trips.

The round trip is what a person feels: a FramebufferUpdateRequest for one
pixel (RFC 6143 §7.5.3) goes viewer → gateway → agent → VNC server, and its
FramebufferUpdate (§7.6.1, one Raw rectangle) comes back the same way.
"""

from __future__ import annotations

import struct
import threading
import time

from . import WebClient, rfb_open

UPDATE_BYTES = 4 + 12 + 4  # FramebufferUpdate header, one Raw rectangle header, one 32-bit pixel


class TimedViewer:
    """Logs in, opens ``machine`` and keeps its session; ``start``/``stop`` time round trips meanwhile."""

    def __init__(self, gateway_url: str, machine: str, user: str = "emp", password: str = "emppass12"):
        self.client = WebClient(gateway_url, user, password)
        issued = self.client.open_session(machine)
        self.session = issued["session"]
        self.ws = self.client.view_socket(issued["ticket"])
        self.ws.settimeout(60)
        init = rfb_open(self.ws).server_init
        assert init.pixel_format[0] == 32  # bits per pixel (RFC 6143 §7.4): 4 bytes a pixel
        self.ws.write_message(struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: Raw only
        self.rtts: list[float] = []
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def round_trip(self) -> float:
        t0 = time.perf_counter()
        self.ws.write_message(struct.pack(">BBHHHH", 3, 0, 0, 0, 1, 1))
        got = 0
        while got < UPDATE_BYTES:
            data = self.ws.read_message()
            if data is None:
                raise ConnectionError(f"session closed: {self.ws.close_code} {self.ws.close_reason}")
            got += len(data)
        if got != UPDATE_BYTES:
            raise AssertionError(f"unexpected update: {got} bytes")
        return time.perf_counter() - t0

    def start(self, interval: float = 0.02) -> None:
        def run():
            try:
                while not self._stop.is_set():
                    self.rtts.append(self.round_trip())
                    time.sleep(interval)
            except Exception as exc:  # the test reads it: a session that died is a finding
                self.error = exc
        self._stop.clear()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> list[float]:
        """Stop timing; the round trips since ``start`` (raises if the session died meanwhile)."""
        self._stop.set()
        self._thread.join(60)
        if self.error is not None:
            raise AssertionError(f"the live session failed: {self.error!r}") from self.error
        rtts, self.rtts = self.rtts, []
        return rtts

    def close(self) -> None:
        self.ws.close_with(1000, "done")


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]

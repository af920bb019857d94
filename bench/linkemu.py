"""A WAN link emulator between network namespaces, in user space, for ``bench.wan``.

This machine's kernel has no ``sch_netem`` (``tc qdisc add … netem`` answers
"Specified qdisc kind is unknown"), so the links are emulated here, packet by
packet, the way netem does it: each link is a pair of TUN devices in two
namespaces, and every IP packet the kernel sends out of one end is written
into the other after

* the loss draw (``--loss``, per packet, each direction),
* serialisation at ``--rate-mbit`` behind the packets already on the wire
  (a queue of at most ``--limit`` packets, tail drop beyond, as netem's ``limit``),
* the one-way ``--delay-ms``.

TUN devices carry whole IP packets of at most their MTU (1500; no offloads),
so TCP sees a real link: its own ACK clock, slow start, retransmits after
loss. Run as root::

    python -m bench.linkemu --pair NS_A:DEV_A=NS_B:DEV_B [--pair …] --delay-ms 20 --rate-mbit 20 --loss 0.001

The devices must exist (``ip -n NS tuntap add dev DEV mode tun``); this
process attaches to them and forwards until SIGTERM. One thread, ``poll``;
at 20 Mbit/s that is under 2,000 packets a second per direction.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time
from dataclasses import dataclass

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000
MAX_PACKET = 65536

_libc = ctypes.CDLL(None, use_errno=True)


def open_tun(netns: str, dev: str) -> int:
    """An fd attached to TUN device ``dev`` of namespace ``netns`` (it stays attached whatever our namespace)."""
    nsfd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    try:
        if _libc.setns(nsfd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({netns}): {os.strerror(err)}")
    finally:
        os.close(nsfd)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


@dataclass
class Direction:
    """One way of one link: packets read from ``src`` are due at ``dst`` after loss, rate and delay."""

    src: int
    dst: int
    delay: float
    rate: float       # bytes per second
    loss: float
    limit: int        # packets queued for the wire at most
    wire_free: float = 0.0
    queued: int = 0
    sent: int = 0
    dropped: int = 0

    def admit(self, now: float, size: int, rng: random.Random) -> float | None:
        """When a packet of ``size`` bytes read now arrives at the far end; ``None``: lost."""
        if rng.random() < self.loss or self.queued >= self.limit:
            self.dropped += 1
            return None
        departs = max(now, self.wire_free) + size / self.rate
        self.wire_free = departs
        self.queued += 1
        return departs + self.delay


def run(directions: list[Direction], seed: int = 0) -> None:
    rng = random.Random(seed)
    due: list = []  # (time, seq, direction, packet)
    seq = 0
    by_fd = {d.src: d for d in directions}
    poller = select.poll()
    for d in directions:
        poller.register(d.src, select.POLLIN)
    while True:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, d, packet = heapq.heappop(due)
            d.queued -= 1
            try:
                os.write(d.dst, packet)
                d.sent += 1
            except (BlockingIOError, OSError):
                d.dropped += 1  # the far end's queue is full or the device went away: the packet is lost
        timeout = None if not due else max(0.0, due[0][0] - time.monotonic()) * 1000
        for fd, _event in poller.poll(timeout):
            d = by_fd[fd]
            while True:
                try:
                    packet = os.read(fd, MAX_PACKET)
                except BlockingIOError:
                    break
                at = d.admit(time.monotonic(), len(packet), rng)
                if at is not None:
                    seq += 1
                    heapq.heappush(due, (at, seq, d, packet))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", action="append", required=True, help="NS_A:DEV_A=NS_B:DEV_B, one link")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="one-way delay, each direction")
    parser.add_argument("--rate-mbit", type=float, default=20.0)
    parser.add_argument("--loss", type=float, default=0.001, help="probability a packet is lost")
    parser.add_argument("--limit", type=int, default=1000, help="packets queued per direction at most")
    args = parser.parse_args(argv)
    directions = []
    for pair in args.pair:
        (ns_a, dev_a), (ns_b, dev_b) = (end.split(":", 1) for end in pair.split("=", 1))
        fd_a, fd_b = open_tun(ns_a, dev_a), open_tun(ns_b, dev_b)
        for src, dst in ((fd_a, fd_b), (fd_b, fd_a)):
            directions.append(Direction(src, dst, args.delay_ms / 1000, args.rate_mbit * 1e6 / 8, args.loss,
                                        args.limit))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"linkemu forwarding {len(args.pair)} link(s)", flush=True)
    run(directions)
    return 0


if __name__ == "__main__":
    sys.exit(main())

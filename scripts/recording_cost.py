"""What recording costs the relay: the gateway's Relay with and without a Recorder.

    .venv/bin/python scripts/recording_cost.py [--mb 200] [--rounds 3] [--rate MB/s]

One process: the relay in gevent (as in the gateway), the agent and the viewer
as plain blocking sockets in two OS threads. Throughput: ``--mb`` of 64 KiB
messages agent → viewer (screen data: "video" is random bytes, which zlib
cannot shrink; "office" is mostly repeated rows). Latency: 64-byte messages
one at a time, each waited for at the viewer, while nothing else flows
(p50/p99). CPU: the process's (relay, recorder, zlib thread and both
peers) per MB relayed, during the throughput run. Recording writes to a temporary folder on this machine's disk.
Not a bench/ figure: a relative one, on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gevent  # noqa: E402
import gevent.socket as gsocket  # noqa: E402

from agents.websocket import FramedWebSocket  # noqa: E402
from gateway.recording.recorder import Recorder  # noqa: E402
from gateway.recording.storage import FolderStorage  # noqa: E402
from gateway.relay import Relay  # noqa: E402

MESSAGE = 64 * 1024


def _ends():
    """(the relay's gevent end, the peer's blocking end) of one WebSocket."""
    a, b = socket.socketpair()
    relay_end = gsocket.socket(fileno=a.detach())
    return (FramedWebSocket.established(relay_end, client=False),
            FramedWebSocket.established(b, client=True))


def payloads(kind: str, n: int) -> list[bytes]:
    if kind == "video":
        return [os.urandom(MESSAGE) for _ in range(n)]
    row = os.urandom(256)
    return [(row * (MESSAGE // 256))[:MESSAGE - 8] + os.urandom(8) for _ in range(n)]


def run(kind: str, total_mb: int, record: bool, folder: Path, rate: float = 0.0) -> dict:
    viewer_ws, viewer_peer = _ends()
    agent_ws, agent_peer = _ends()
    recorder = None
    if record:
        session = uuid.uuid4().hex
        recorder = Recorder(FolderStorage(folder), session, {"session": session}).start()
    relay = Relay("bench", viewer_ws, agent_ws, machine_id=1, user_id=1,
                  tee=recorder.tee if recorder else None)
    cpu0 = time.process_time()
    running = gevent.spawn(relay.run)
    pool = payloads(kind, 16)
    count = total_mb * 1024 * 1024 // MESSAGE
    got = {"bytes": 0, "t_end": 0.0}
    small_seen = threading.Event()

    def viewer():
        while (m := viewer_peer.read_message()) is not None:
            got["bytes"] += len(m)
            if len(m) == 64:
                small_seen.set()
        got["t_end"] = time.perf_counter()

    def agent():
        t0 = time.perf_counter()
        for i in range(count):
            agent_peer.write_message(pool[i % len(pool)])
            if rate:  # paced: a screen that changes this fast, not a loopback at full speed
                ahead = t0 + (i + 1) * MESSAGE / (rate * 1024 * 1024) - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
        got["t_send"] = t0
        while got["bytes"] < count * MESSAGE:
            time.sleep(0.001)
        got["throughput_s"] = time.perf_counter() - t0
        got["cpu_s"] = time.process_time() - cpu0
        lat = []
        for _ in range(1000):
            small_seen.clear()
            t = time.perf_counter()
            agent_peer.write_message(b"x" * 64)
            small_seen.wait(5)
            lat.append((time.perf_counter() - t) * 1000)
        got["latency"] = lat

    threads = [threading.Thread(target=viewer, daemon=True), threading.Thread(target=agent, daemon=True)]
    for t in threads:
        t.start()
    while threads[1].is_alive():
        gevent.sleep(0.01)
    relay.stop("done")
    running.join(timeout=10)
    status = recorder.close() if recorder else None
    lat = sorted(got["latency"])
    return {"MB/s": total_mb / got["throughput_s"], "cpu ms/MB": 1000 * got["cpu_s"] / total_mb, "p50 ms": statistics.median(lat),
            "p99 ms": lat[int(len(lat) * 0.99)], "stopped": status,
            "written MB": recorder.bytes_written / 1e6 if recorder else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0, help="MB/s the agent sends at (0: as fast as it can)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("office", "video"):
            for record in (False, True):
                results = [run(kind, args.mb, record, Path(folder), args.rate) for _ in range(args.rounds)]
                best = max(results, key=lambda r: r["MB/s"])
                print(f"{kind:6} recording {'on ' if record else 'off'}: "
                      f"{best['MB/s']:7.1f} MB/s (best of {args.rounds}), "
                      f"{statistics.median(r['cpu ms/MB'] for r in results):5.2f} CPU ms/MB (all threads), "
                      f"p50 {statistics.median(r['p50 ms'] for r in results):.3f} ms, "
                      f"p99 {statistics.median(r['p99 ms'] for r in results):.3f} ms"
                      + (f", written {best['written MB']:.1f} MB for {args.mb} MB"
                         f"{', stopped: ' + best['stopped'] if best['stopped'] else ''}" if record else ""),
                      flush=True)


if __name__ == "__main__":
    main()

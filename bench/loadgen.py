"""Many idle agents on one asyncio loop, speaking the real agent control protocol.

Each agent opens ``/ws/agent`` (RFC 6455 handshake, masked client frames),
sends ``Hello`` with its machine credential, waits for ``Welcome`` and then
sends a ``Heartbeat`` every interval the gateway asked for, answering pings —
what ``python -m agents run`` does while no one is viewing. Encoding and
decoding go through ``agents.protocol.control``.

Driven over stdin/stdout by the bench (one JSON line per answer)::

    connect N     bring the number of connected agents up to N
    quit          close every connection and exit

    python -m bench.loadgen --url http://127.0.0.1:PORT --credentials FILE
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import time
from urllib.parse import urlsplit

from agents.protocol import control
from bench.client import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, _parse_header, ws_frame

HANDSHAKE_CONCURRENCY = 64
HANDSHAKE_TIMEOUT = 30.0
#: Agents dialling from one loopback address: under the gateway's default
#: per-address cap (``admission.DEFAULT_PER_CLIENT``, 256), as offices behind
#: separate addresses would be; 10,000 agents use 50 addresses.
AGENTS_PER_ADDRESS = 200


class Agents:
    def __init__(self, host: str, port: int, credentials: list[str]):
        self.host, self.port = host, port
        self.credentials = credentials
        self.started = 0
        self.connected = 0
        self.failed = 0
        self.errors: dict[str, int] = {}
        self.writers = []
        self.tasks = set()
        self.gate = asyncio.Semaphore(HANDSHAKE_CONCURRENCY)

    async def grow(self, target: int) -> dict:
        began = time.monotonic()
        target = min(target, len(self.credentials))
        ready = []
        while self.started < target:
            done = asyncio.get_running_loop().create_future()
            ready.append(done)
            task = asyncio.create_task(self.agent(self.started, done))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            self.started += 1
        if ready:
            await asyncio.wait(ready)
        return {"connected": self.connected, "failed": self.failed, "errors": self.errors,
                "seconds": round(time.monotonic() - began, 3)}

    def _fail(self, why: str) -> None:
        self.failed += 1
        self.errors[why] = self.errors.get(why, 0) + 1

    async def agent(self, index: int, done: asyncio.Future) -> None:
        writer = None
        try:
            async with self.gate:
                reader, writer = await asyncio.wait_for(self._handshake(index), HANDSHAKE_TIMEOUT)
                hello = control.Hello(credential=self.credentials[index], info=control.AgentInfo(
                    version="bench", os="bench", hostname=f"idle-{index}", vnc_ok=True, vnc_detail="bench"))
                writer.write(ws_frame(control.encode(hello), OP_BINARY))
                frames = FrameReader()
                first = await asyncio.wait_for(frames.message(reader, writer), HANDSHAKE_TIMEOUT)
                event = control.decode_from_gateway(first or b"")
                if not isinstance(event, control.Welcome):
                    raise RuntimeError(f"got {type(event).__name__}")
        except Exception as exc:
            self._fail(type(exc).__name__ + (f": {exc}"[:80] if str(exc) else ""))
            if writer is not None:
                writer.close()
            done.set_result(False)
            return
        self.connected += 1
        self.writers.append(writer)
        done.set_result(True)
        try:
            await self._idle(reader, writer, frames, event.heartbeat)
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            pass
        finally:
            self.connected -= 1

    async def _handshake(self, index: int):
        reader, writer = await asyncio.open_connection(self.host, self.port, local_addr=(source_address(index), 0))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET /ws/agent HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                     .encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode("latin-1"))
        return reader, writer

    async def _idle(self, reader, writer, frames, interval: float) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + random.uniform(0.5, 1.0) * interval
        beat = ws_frame(control.encode(control.Heartbeat(info=control.AgentInfo(
            version="bench", os="bench", hostname="idle", vnc_ok=True, vnc_detail="bench"))), OP_BINARY)
        while True:
            try:
                message = await asyncio.wait_for(frames.message(reader, writer), max(0.01, next_beat - loop.time()))
            except asyncio.TimeoutError:
                writer.write(beat)
                next_beat += interval
                continue
            if message is None:
                return

    async def close_all(self) -> None:
        for writer in self.writers:
            try:
                writer.write(ws_frame(b"\x03\xe8", OP_CLOSE))
                writer.close()
            except Exception:
                pass
        for task in list(self.tasks):
            task.cancel()
        await asyncio.sleep(0.2)


def source_address(index: int) -> str:
    """The loopback address agent ``index`` dials from (127.2.0.1, 127.2.0.2, …)."""
    group = index // AGENTS_PER_ADDRESS
    return f"127.2.{group // 250}.{group % 250 + 1}"


class FrameReader:
    """Reassembles server frames from a StreamReader; answers pings; None on close."""

    def __init__(self):
        self.buf = b""

    async def message(self, reader, writer) -> bytes | None:
        while True:
            parsed = _parse_header(self.buf)
            if parsed is not None:
                hlen, opcode, length = parsed
                if len(self.buf) >= hlen + length:
                    payload = self.buf[hlen:hlen + length]
                    self.buf = self.buf[hlen + length:]
                    if opcode == OP_PING:
                        writer.write(ws_frame(payload, OP_PONG))
                        continue
                    if opcode == OP_CLOSE:
                        return None
                    if opcode == OP_PONG:
                        continue
                    return payload
            data = await reader.read(65536)
            if not data:
                return None
            self.buf += data


async def drive(url: str, credentials: list[str]) -> None:
    parts = urlsplit(url)
    agents = Agents(parts.hostname, parts.port, credentials)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        words = line.split()
        if not words or words[0] == "quit":
            await agents.close_all()
            print(json.dumps({"bye": True}), flush=True)
            return
        if words[0] == "connect":
            print(json.dumps(await agents.grow(int(words[1]))), flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--credentials", required=True)
    args = parser.parse_args(argv)
    with open(args.credentials) as fh:
        credentials = [line.strip() for line in fh if line.strip()]
    asyncio.run(drive(args.url, credentials))


if __name__ == "__main__":
    main()

"""An office-work VNC server for the office-load bench: bursty screen updates and a keystroke echo.

Each connection gets the RFB 3.8 handshake of ``bench.rfbtarget`` (security None,
1920×1080). Then, bench only (not RFB past the handshake; the relays do not
look), the server sends messages ``type (1 byte) | length (4, big-endian) |
payload``:

* type 0, screen: every ``TICK`` seconds, with probability ``BURST_CHANCE``, a
  burst of ``BURST_BYTES`` — on average 250 KB/s a session, in bursts as office
  screens change (a window opens, a page scrolls), each connection on its own
  random phase;
* type 1, echo: every 8-byte keystroke the client sends comes back at once,
  queued behind whatever screen bytes the connection already holds, as a real
  server's echo is.

One asyncio loop serves every connection (a thousand threads would measure the
target, not the relays). Run as ``python -m bench.officetarget --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import struct
import sys

from bench.rfbtarget import SERVER_INIT

TICK = 0.1
BURST_BYTES = 100_000
BURST_CHANCE = 0.25  # 100 KB × 0.25 per 100 ms = 250 KB/s on average
KEY_SIZE = 8
SCREEN, ECHO = 0, 1
_BURST = struct.pack(">BI", SCREEN, BURST_BYTES) + os.urandom(BURST_BYTES)


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"RFB 003.008\n")
    await reader.readexactly(12)
    writer.write(b"\x01\x01")  # one security type: None
    if await reader.readexactly(1) != b"\x01":
        return False
    writer.write(b"\x00\x00\x00\x00")
    await reader.readexactly(1)  # ClientInit
    writer.write(SERVER_INIT)
    await writer.drain()
    return True


async def screen(writer: asyncio.StreamWriter, rng: random.Random) -> None:
    loop = asyncio.get_running_loop()
    next_tick = loop.time() + rng.random() * TICK
    while True:
        await asyncio.sleep(max(0.0, next_tick - loop.time()))
        next_tick += TICK
        if rng.random() < BURST_CHANCE:
            writer.write(_BURST)
            await writer.drain()


async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        import socket

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    painter = None
    try:
        if not await handshake(reader, writer):
            return
        first = await reader.read(1)
        if first != b"O":  # anything else (the agent's health probe closing) ends here
            return
        painter = asyncio.ensure_future(screen(writer, random.Random()))
        echo_head = struct.pack(">BI", ECHO, KEY_SIZE)
        while True:
            key = await reader.readexactly(KEY_SIZE)
            writer.write(echo_head + key)
    except (OSError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        if painter is not None:
            painter.cancel()
        writer.close()


async def main_async(host: str, port: int) -> None:
    server = await asyncio.start_server(serve_client, host, port, backlog=4096)
    print(f"officetarget listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main_async(args.host, args.port))


if __name__ == "__main__":
    main()

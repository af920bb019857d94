"""A synthetic RFB server: the "VNC server" every path of the bench ends at.

Each connection gets the RFB 3.8 handshake with security type None
(RFC 6143 §7.1–7.3, ServerInit 1920×1080, 32 bpp true colour). What follows
depends on the client's first message:

* ``FramebufferUpdateRequest`` (type 3, §7.5.3) for a w×h rectangle: from then
  on the server streams FramebufferUpdates (§7.6.1, one Raw rectangle of w×h,
  w·h·4 pixel bytes) back to back, as fast as the socket takes them, until
  the client goes away. Several small updates are joined into one ``sendall``.
* ``E`` (not RFB; bench only): echo every later byte back.

Connections that close after ServerInit (the agent's health probe) are fine.
One thread per connection; run as ``python -m bench.rfbtarget --port P``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import sys
import threading

WIDTH, HEIGHT = 1920, 1080
# bpp 32, depth 24, little-endian, true colour, r/g/b max 255, shifts 16/8/0.
PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
NAME = b"ponte-bench"
SERVER_INIT = struct.pack(">HH", WIDTH, HEIGHT) + PIXEL_FORMAT + struct.pack(">I", len(NAME)) + NAME
MIN_WRITE = 256 * 1024
ECHO_READ = 64 * 1024
_NOISE = os.urandom(WIDTH * HEIGHT * 4)


def update_bytes(w: int, h: int) -> bytes:
    """One FramebufferUpdate with one Raw rectangle of w×h at (0, 0)."""
    head = struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", 0, 0, w, h, 0)
    return head + _NOISE[:w * h * 4]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def serve_client(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"RFB 003.008\n")
        _recv_exact(sock, 12)
        sock.sendall(b"\x01\x01")  # one security type: None
        if _recv_exact(sock, 1) != b"\x01":
            return
        sock.sendall(b"\x00\x00\x00\x00")  # SecurityResult OK
        _recv_exact(sock, 1)  # ClientInit
        sock.sendall(SERVER_INIT)
        first = sock.recv(1)
        if first == b"\x03":
            _inc, _x, _y, w, h = struct.unpack(">BHHHH", _recv_exact(sock, 9))
            w, h = max(1, min(w, WIDTH)), max(1, min(h, HEIGHT))
            one = update_bytes(w, h)
            chunk = one * max(1, MIN_WRITE // len(one))
            while True:
                sock.sendall(chunk)
        elif first == b"E":
            while True:
                data = sock.recv(ECHO_READ)
                if not data:
                    return
                sock.sendall(data)
    except (OSError, EOFError):
        pass
    finally:
        sock.close()


def serve(host: str, port: int) -> None:
    listener = socket.create_server((host, port), backlog=1024)
    print(f"rfbtarget listening on {host}:{listener.getsockname()[1]}", flush=True)
    while True:
        sock, _peer = listener.accept()
        threading.Thread(target=serve_client, args=(sock,), daemon=True).start()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(args.host, args.port)


if __name__ == "__main__":
    main()

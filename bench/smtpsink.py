"""``python -m bench.smtpsink --port P --count-file F``: a real SMTP server (aiosmtpd) that
accepts everything and writes how many messages it took to F (for ``bench/signup.py``).

A process of its own, so its asyncio loop and the bench's echo timing never share a GIL."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self, path: Path):
        self.path, self.count, self.lock = path, 0, threading.Lock()
        path.write_text("0\n")

    async def handle_DATA(self, server, session, envelope):   # aiosmtpd's handler hook
        with self.lock:
            self.count += 1
            self.path.write_text(f"{self.count}\n")
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count-file", required=True)
    args = parser.parse_args()
    controller = Controller(Counter(Path(args.count_file)), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("listening", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

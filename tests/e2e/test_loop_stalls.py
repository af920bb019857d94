"""Logins and a busy SQLite do not stall a node's loop (issue 8, item 2).

A real gateway process; its loop's responsiveness is read from outside as
the latency of ``/healthz`` polled every 20 ms (SQL ``SELECT 1`` and a Redis
``PING``: a few milliseconds when the loop is free).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest

from agents.transport import HTTPClient, TLSOptions

pytestmark = pytest.mark.slow

STALL = 0.6  # seconds: /healthz slower than this means the loop was held
#: A login burst under the whole suite's load of two cores once made one probe take 665 ms
#: (82 ms alone); hashing on the loop instead, measured alone, holds it 1,761 ms in one go.
BURST_STALL = 1.2


def poll_health(url: str, stop: threading.Event, out: list) -> None:
    session = HTTPClient(url, TLSOptions(insecure_dev=True), timeout=30)
    while not stop.is_set():
        t0 = time.perf_counter()
        status = session.request("GET", "/healthz")[0]
        out.append((time.perf_counter() - t0, status))
        time.sleep(0.02)


def login(url: str, name: str, password: str) -> tuple[int, float]:
    session = HTTPClient(url, TLSOptions(insecure_dev=True), timeout=60)
    page = session.request("GET", "/login")[2].decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    t0 = time.perf_counter()
    status = session.request("POST", "/login", form={"csrf_token": token, "name": name, "password": password},
                             headers={"Accept": "text/html"})[0]
    return status, time.perf_counter() - t0


def while_polling(url: str, work) -> tuple[list, object]:
    stop, health = threading.Event(), []
    poller = threading.Thread(target=poll_health, args=(url, stop, health))
    poller.start()
    time.sleep(0.3)
    try:
        result = work()
    finally:
        time.sleep(0.3)
        stop.set()
        poller.join(60)
    return health, result


def test_login_burst_does_not_stall_the_loop(gateway_factory):
    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute", PONTE_HASH_CONCURRENCY="2")
    gw.add_user("emp", "emppass12")

    def burst():
        results = [None] * 16
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, login(gw.url, "emp", "emppass12")))
                   for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return results

    health, results = while_polling(gw.url, burst)
    worst = max(t for t, _ in health)
    print(f"16 logins: slowest {max(r[1] for r in results):.2f} s; /healthz slowest {worst * 1e3:.0f} ms "
          f"over {len(health)} probes")
    assert all(status == 302 for status, _ in results), results
    assert all(status == 200 for _, status in health)
    assert worst < BURST_STALL, f"/healthz took {worst:.2f} s during the logins: the loop was held"


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # the write lock, as a backup or an open sqlite3 shell holds it
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def test_sqlite_write_lock_held_elsewhere_does_not_stall_the_loop(gateway_factory):
    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute")
    gw.add_user("emp", "emppass12")
    holder = None

    def locked_login():
        nonlocal holder
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(gw.instance / "ponte.db"), "3"],
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        return login(gw.url, "emp", "emppass12")  # its audit row needs the write lock

    try:
        health, (status, seconds) = while_polling(gw.url, locked_login)
    finally:
        if holder is not None:
            holder.wait(30)
    worst = max(t for t, _ in health)
    print(f"login during a held write lock: {status} in {seconds:.2f} s; /healthz slowest {worst * 1e3:.0f} ms")
    assert status == 503  # "database busy": retrying in a moment works
    assert worst < STALL, f"/healthz took {worst:.2f} s while another process held SQLite's write lock"
    assert login(gw.url, "emp", "emppass12")[0] == 302

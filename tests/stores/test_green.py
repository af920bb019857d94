"""Under ``serve`` (gevent patched) hashing and PostgreSQL waits leave the loop free.

The checks run in a child process that patches first, as ``python -m
gateway serve`` does; a ticker greenlet measures the longest the loop was
held. Outside gevent (this process, the Flask test client) the same calls
run inline, which every other test exercises.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

SCRIPT = r"""
from gevent import monkey
monkey.patch_all()

import json, sys, time
import gevent
from argon2 import PasswordHasher

from tests.support.loopwatch import LoopWatch
held = LoopWatch().held

from gateway import create_app, security
from gateway.extensions import db
from sqlalchemy import text

out = {}
app = create_app({"instance_path": sys.argv[1], "redis_url": sys.argv[2], "redis_prefix": sys.argv[3],
                  "database_url": sys.argv[4], "hash_concurrency": 2})

# Hashing: six logins at once, two hashing at a time, the loop never held for a hash.
flight = {"now": 0, "peak": 0}
real = security._hasher
class Counting(PasswordHasher):
    def verify(self, stored, password):
        flight["now"] += 1  # in a pool thread: one += on a dict slot under the GIL
        flight["peak"] = max(flight["peak"], flight["now"])
        try:
            return real.verify(stored, password)
        finally:
            flight["now"] -= 1
security._hasher = Counting()
stored = real.hash("secret-pw-1")
results = []
out["hash"] = held(lambda: results.extend(gevent.joinall(
    [gevent.spawn(security.verify_password, stored, "secret-pw-1") for _ in range(6)])))
out["hash"]["ok"] = all(g.value is True for g in results)
out["hash"]["peak"] = flight["peak"]

# PostgreSQL: green waits, host names resolved through gevent, a deadline that holds.
from psycopg2 import extensions
out["wait_callback"] = extensions.get_wait_callback() is not None
with app.app_context():
    out["hostaddr"] = db.session.connection().connection.dbapi_connection.info.dsn_parameters.get("hostaddr")
    from gateway import database
    def slow():
        try:
            with database.deadline(0.5):
                db.session.execute(text("SELECT pg_sleep(3)"))
            out["deadline_error"] = None
        except Exception as exc:
            out["deadline_error"] = type(exc).__name__
    out["deadline"] = held(slow)
    db.session.remove()
print(json.dumps(out))
"""


def test_hashing_and_postgres_waits_leave_the_loop_free(tmp_path, redis_server, prefix, pg_url):
    url = pg_url.replace("@127.0.0.1:", "@localhost:", 1)  # a name libpq would look up itself, blocking
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), redis_server, prefix, url],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(out)
    assert out["hash"]["ok"] and out["hash"]["peak"] == 2, out["hash"]
    # One argon2 verify holds a core ~0.2 s; inline, six would hold the loop ~1 s.
    assert out["hash"]["loop_held"] < 0.1, out["hash"]
    assert out["wait_callback"] is True
    assert out["hostaddr"] in ("127.0.0.1", "::1")
    assert out["deadline_error"] == "OperationalError"
    assert out["deadline"]["seconds"] < 2.0 and out["deadline"]["loop_held"] < 0.1, out["deadline"]

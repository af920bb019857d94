"""Under ``serve`` a SQLite commit waits for the disk off the loop, and the node's writers take turns.

The checks run in a child process that patches first, as ``python -m gateway
serve`` does, on a real SQLite file; a ticker greenlet measures the longest
the loop was held. A slow disk is played by SQLite's own trace callback: it
runs in the thread that executes the ``COMMIT`` and holds that thread for
``SLOW`` seconds, as an fsync to a busy or network disk does. Outside gevent
(this process, the Flask test client) commits run inline, which every other
test exercises.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

SLOW = 0.5

SCRIPT = r"""
from gevent import monkey
monkey.patch_all()

import json, sys, time
import gevent
from sqlalchemy import event

native_id = monkey.get_original("threading", "get_native_id")
real_sleep = monkey.get_original("time", "sleep")
SLOW = float(sys.argv[3])

from gateway import create_app, database
database.SQLITE_TURN_WAIT = 1.0   # the engine's turns are made with it, in create_app
from gateway.extensions import db
from gateway.models import audit

app = create_app({"instance_path": sys.argv[1], "redis_url": sys.argv[2], "redis_prefix": "offloop:"})
commits = []
def slow_commits(statement):
    if statement == "COMMIT":
        commits.append(native_id())
        real_sleep(SLOW)

with app.app_context():
    event.listen(db.engine, "connect", lambda conn, _rec: conn.set_trace_callback(slow_commits))
    db.engine.dispose()  # every connection from here on is traced
    out = {"factory": type(db.session.connection().connection.dbapi_connection).__name__}
    db.session.remove()

def write(name, delay=0.0, hold=0.0):
    gevent.sleep(delay)
    t0 = time.monotonic()
    with app.app_context():
        try:
            audit("offloop_test", actor=name)
            db.session.flush()          # the write: this transaction's turn is taken here
            gevent.sleep(hold)          # a writer that yields before it commits
            db.session.commit()
            return {"ok": True, "seconds": time.monotonic() - t0}
        except Exception as exc:
            db.session.rollback()
            return {"ok": False, "error": type(exc).__name__, "message": str(exc)[:200],
                    "seconds": time.monotonic() - t0}
        finally:
            db.session.remove()

from tests.support.loopwatch import LoopWatch
watch = LoopWatch()
loop_thread = native_id()

def both(first, second):
    pair = [gevent.spawn(*first), gevent.spawn(*second)]
    gevent.joinall(pair)
    return [g.value for g in pair]

# b writes while a's commit is at the disk.
two = watch.held(lambda: both((write, "a"), (write, "b", 0.1)))
out["two_writers"] = {"a": two["value"][0], "b": two["value"][1], "loop_held": two["loop_held"],
                      "commits_on_loop": sum(1 for t in commits if t == loop_thread), "commits": len(commits)}

# A writer that keeps its turn past SQLITE_TURN_WAIT: the next writer gives up with an error.
held = watch.held(lambda: both((write, "c", 0.0, 1.5), (write, "d", 0.1)))
out["held_turn"] = {"c": held["value"][0], "d": held["value"][1], "loop_held": held["loop_held"]}
with app.app_context():
    from sqlalchemy import select
    from gateway.models import AuditEvent
    from gateway import tenancy
    with tenancy.across_organisations():
        out["rows"] = sorted(db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "offloop_test")))
print(json.dumps(out))
"""


def run_child(tmp_path, redis_server) -> dict:
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), redis_server, str(SLOW)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(out)
    return out


def test_a_slow_commit_holds_its_writer_not_the_loop(tmp_path, redis_server):
    out = run_child(tmp_path, redis_server)
    assert out["factory"] == "OffLoopCommit"
    two = out["two_writers"]
    assert two["a"]["ok"] and two["b"]["ok"], two
    assert two["commits"] >= 2 and two["commits_on_loop"] == 0, two
    # Inline, the first commit alone would hold the loop SLOW seconds.
    assert two["loop_held"] < 0.1, two
    # b wrote while a's commit was at the disk: it waited for its turn (on the loop, cooperatively),
    # then had its own slow commit.
    assert two["b"]["seconds"] >= SLOW * 1.5, two
    held = out["held_turn"]
    assert held["c"]["ok"], held
    assert not held["d"]["ok"] and held["d"]["error"] == "OperationalError", held
    assert "another write of this node" in held["d"]["message"], held
    assert held["loop_held"] < 0.1, held
    assert out["rows"] == ["a", "b", "c"]

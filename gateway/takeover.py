"""Who is on a PC right now, and asking them to hand it over (take-over requests), in Redis.

Live sessions are in Redis (``machine:<id>:sessions``, each ``session:<id>``
hash), so every gateway node sees who is on a PC, whichever node relays them.

A take-over request (``takeover:<id>`` hash; ``session:<id>:takeover`` points
the current session at it) lives ``ANSWER_TIME`` seconds for the person at the
PC to accept or refuse in their viewer. **No answer counts as a refusal**: the
person at the PC may have stepped away for a minute with work open, and
nobody should lose their session because they did not look at the screen;
a PC left alone is freed by its idle timeout instead. An admin's take-over
needs no answer (``grant``): the request is made accepted at once.

States: ``pending`` → ``accepted`` | ``refused`` (answered) | ``expired``
(read after ``ANSWER_TIME`` unanswered); ``accepted`` → ``used`` once the
asker's new session is issued (``claim``), so one acceptance opens one session.
"""

from __future__ import annotations

import json
import time
import uuid

from .live import LiveStore

#: Seconds the person at the PC has to answer.
ANSWER_TIME = 30
#: How long the asker may still read the answer and claim the PC after it.
KEEP = ANSWER_TIME + 120

# pending → answer, in one step (two answers, or an answer racing the expiry, cannot both win)
_ANSWER = ("if redis.call('hget', KEYS[1], 'state') == 'pending' and "
           "tonumber(redis.call('hget', KEYS[1], 'created')) + tonumber(ARGV[2]) >= tonumber(ARGV[3]) then "
           "redis.call('hset', KEYS[1], 'state', ARGV[1]) return 1 end return 0")
_CLAIM = ("if redis.call('hget', KEYS[1], 'state') == 'accepted' "
          "and redis.call('hget', KEYS[1], 'asker_id') == ARGV[1] "
          "and redis.call('hget', KEYS[1], 'machine_id') == ARGV[2] then "
          "redis.call('hset', KEYS[1], 'state', 'used') return 1 end return 0")


def occupants(live: LiveStore, machine_id: int) -> list[dict]:
    """The live sessions on a PC, oldest first: ``id``, ``user``, ``user_id``, ``started``, …
    (pending ones — a ticket not yet used — are not on the PC yet)."""
    ids = sorted(m.decode() for m in live._call(live.redis.smembers, live.key("machine", machine_id, "sessions")))
    rows = []
    for sid in ids:
        row = live.session(sid)
        if row is None or row.get("state") != "live":
            continue
        rows.append({"id": sid, **row})
    return sorted(rows, key=lambda r: float(r.get("started") or 0))


def _key(live: LiveStore, request: str) -> str:
    return live.key("takeover", request)


def ask(live: LiveStore, *, machine_id: int, session: str, asker: str, asker_id: int,
        state: str = "pending") -> str:
    """A new request to the person in ``session``; its id. ``state`` "accepted": an admin's."""
    request = uuid.uuid4().hex
    pipe = live.redis.pipeline()
    pipe.hset(_key(live, request), mapping={"machine_id": machine_id, "session": session, "asker": asker,
                                            "asker_id": asker_id, "state": state, "created": time.time()})
    pipe.expire(_key(live, request), KEEP)
    if state == "pending":
        pipe.set(live.key("session", session, "takeover"), request, ex=ANSWER_TIME)
    pipe.set(live.key("takeover", "asker", asker_id, machine_id), request, ex=KEEP)
    live._call(pipe.execute)
    return request


def read(live: LiveStore, request: str) -> dict | None:
    """The request (``state`` as seen now: an unanswered one past its time is ``expired``)."""
    if not request or len(request) > 64:
        return None
    row = live._call(live.redis.hgetall, _key(live, request))
    if not row:
        return None
    row = {k.decode(): v.decode() for k, v in row.items()}
    left = float(row.get("created") or 0) + ANSWER_TIME - time.time()
    if row.get("state") == "pending" and left < 0:
        row["state"] = "expired"
    row["expires_in"] = max(0, int(left)) if row.get("state") == "pending" else 0
    row["id"] = request
    return row


def latest(live: LiveStore, *, asker_id: int, machine_id: int) -> dict | None:
    """The latest request of ``asker_id`` for ``machine_id`` still kept, if any."""
    raw = live._call(live.redis.get, live.key("takeover", "asker", asker_id, machine_id))
    return read(live, raw.decode()) if raw else None


def pending_for(live: LiveStore, session: str) -> dict | None:
    """The request waiting for an answer from the person in ``session``, if any."""
    raw = live._call(live.redis.get, live.key("session", session, "takeover"))
    found = read(live, raw.decode()) if raw else None
    return found if found is not None and found.get("state") == "pending" and found["session"] == session else None


def answer(live: LiveStore, request: str, accept: bool) -> bool:
    """Accept or refuse a pending request in time; False if it was answered or expired already."""
    done = bool(live._call(live.redis.eval, _ANSWER, 1, _key(live, request),
                           "accepted" if accept else "refused", ANSWER_TIME, time.time()))
    if done:
        found = read(live, request)
        if found:
            live._call(live.redis.delete, live.key("session", found["session"], "takeover"))
    return done


def claim(live: LiveStore, request: str, *, user_id: int, machine_id: int) -> bool:
    """Use an accepted request of ``user_id`` for ``machine_id`` (once): True if it was theirs to use."""
    if not request or len(request) > 64:
        return False
    return bool(live._call(live.redis.eval, _CLAIM, 1, _key(live, request), user_id, machine_id))


def reserve(live: LiveStore, machine_id: int, *, user_id: int, user: str, ttl: int) -> dict | None:
    """Hold an exclusive PC for the person about to open it, between the ticket and the
    session's start (the live set shows them only then): two people pressing Open at the
    same moment cannot both get it. None if it is theirs now, else the holder
    (``user_id``, ``user``, ``started``). The hold expires by itself once their ticket has,
    and counts only while its session's record exists (``held_by``): a session that ended or
    never started frees the PC at once."""
    key = live.key("machine", machine_id, "opening")
    value = json.dumps({"user_id": user_id, "user": user, "started": time.time(), "session": ""})
    for _attempt in range(2):
        if live._call(live.redis.set, key, value, nx=True, ex=max(1, int(ttl))):
            return None
        raw = live._call(live.redis.get, key)
        holder = _holder(raw)
        if holder is not None and holder["user_id"] != user_id and (
                not holder["session"] or live._call(live.redis.exists, live.key("session", holder["session"]))):
            return holder
        live._call(live.redis.delete, key)   # theirs, gone, or our own earlier hold: take it
    return None


def held_by(live: LiveStore, machine_id: int, session: str, ttl: int, *, user_id: int) -> None:
    """The hold ``reserve`` gave ``user_id`` is for ``session`` (issued now); no hold: nothing."""
    key = live.key("machine", machine_id, "opening")
    holder = _holder(live._call(live.redis.get, key))
    if holder is not None and holder["user_id"] == user_id:
        live._call(live.redis.set, key, json.dumps({**holder, "session": session}), ex=max(1, int(ttl)))


def _holder(raw) -> dict | None:
    try:
        data = json.loads(raw) if raw else None
        return {"user_id": int(data["user_id"]), "user": str(data["user"]), "started": float(data["started"]),
                "session": str(data.get("session") or "")}
    except (ValueError, TypeError, KeyError):
        return None

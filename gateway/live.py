"""Live state in Redis: online agents, one-time tickets, live sessions, nodes.

Everything here can be lost: each node re-asserts what it holds (its
``node:`` record, its agents, its live sessions) as soon as Redis answers
again (``upkeep.reassert``). Durable facts go to SQL (``models``). Keys follow
DESIGN.md §3, under a configurable prefix.

Raises ``LiveStoreError`` (``gateway.errors``) when Redis does not answer
(it wraps ``redis.RedisError``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

from . import nodebus, tenancy
from .errors import LiveStoreError
from .security import new_token
from .terms import SessionTerms

# Over 300 lines: one class, ``LiveStore``, holds the Redis keys of DESIGN.md §3 and their
# commands; split by key family, each part would repeat the prefix, error wrapping and pipelines.
LIVE_SESSION_TTL = 24 * 3600  # a crashed node's sessions disappear by themselves


@dataclass(frozen=True)
class Ticket:
    session: str
    user_id: int
    machine_id: int
    terms: SessionTerms = SessionTerms()
    #: A guest's ticket: the guest it is bound to (``guests.Guest.binding``); "" for a person's.
    guest: str = ""
    #: The firm of its PC (issue 17): redeemed only by a request acting for that firm (``pairing``).
    organisation_id: int = tenancy.DEFAULT


class LiveStore:
    """Typed access to the Redis keys of DESIGN.md §3."""

    def __init__(self, client: redis.Redis, prefix: str = "ponte:"):
        self.redis = client
        self.prefix = prefix

    def key(self, *parts) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise LiveStoreError(str(exc)) from exc

    # -- agents --

    def agent_online(self, machine_id: int, node: str, info: dict, ttl: float, since: float | None = None) -> None:
        key = self.key("agent", machine_id)
        now = time.time()
        fields = {"node": node, "last_seen": now, **{k: _flat(v) for k, v in info.items()}}
        pipe = self.redis.pipeline()
        pipe.hsetnx(key, "since", since or now)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, max(1, int(ttl)))
        self._call(pipe.execute)

    def agent_offline(self, machine_id: int, node: str) -> None:
        key = self.key("agent", machine_id)
        # Only the node that holds the agent may drop it: a reconnect to
        # another node must not be undone by the old node's cleanup.
        lua = ("if redis.call('hget', KEYS[1], 'node') == ARGV[1] then "
               "return redis.call('del', KEYS[1]) end return 0")
        self._call(self.redis.eval, lua, 1, key, node)

    def agent(self, machine_id: int) -> dict | None:
        data = self._call(self.redis.hgetall, self.key("agent", machine_id))
        return {k.decode(): v.decode() for k, v in data.items()} if data else None

    def agents(self, machine_ids) -> dict[int, dict]:
        ids = list(machine_ids)
        pipe = self.redis.pipeline()
        for mid in ids:
            pipe.hgetall(self.key("agent", mid))
        rows = self._call(pipe.execute)
        return {mid: {k.decode(): v.decode() for k, v in row.items()}
                for mid, row in zip(ids, rows) if row}

    # -- tickets --

    def issue_ticket(self, ticket: Ticket, ttl: int) -> str:
        token = new_token(32)
        value = json.dumps({"session": ticket.session, "user_id": ticket.user_id,
                            "machine_id": ticket.machine_id, "terms": ticket.terms.to_json(),
                            "org": ticket.organisation_id,
                            **({"guest": ticket.guest} if ticket.guest else {})})
        self._call(self.redis.set, self.key("ticket", token), value, ex=ttl)
        return token

    def consume_ticket(self, token: str) -> Ticket | None:
        """The ticket, removed atomically (GETDEL), or ``None`` if unknown or expired."""
        if not token or len(token) > 128:
            return None
        raw = self._call(self.redis.getdel, self.key("ticket", token))
        if raw is None:
            return None
        data = json.loads(raw)
        return Ticket(data["session"], int(data["user_id"]), int(data["machine_id"]),
                      SessionTerms.from_json(data.get("terms")), str(data.get("guest", "")),
                      int(data.get("org", tenancy.DEFAULT)))

    # -- sessions --

    def session_pending(self, session: str, fields: dict, ttl: int) -> None:
        key = self.key("session", session)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping={k: _flat(v) for k, v in fields.items()})
        pipe.expire(key, ttl)
        self._call(pipe.execute)

    def session_started(self, session: str, machine_id: int, fields: dict) -> None:
        key = self.key("session", session)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping={k: _flat(v) for k, v in fields.items()})
        pipe.expire(key, LIVE_SESSION_TTL)
        pipe.sadd(self.key("sessions", "live"), session)
        pipe.sadd(self.key("machine", machine_id, "sessions"), session)
        self._call(pipe.execute)

    def session_bytes(self, session: str, to_viewer: int, from_viewer: int, extra: dict | None = None) -> bool:
        """Update a live session's byte counts (and ``extra`` fields: its relay's quality
        figures); False if its record is gone (Redis restarted): never recreate a partial
        record, the node re-asserts it whole."""
        pairs = [x for k, v in (extra or {}).items() for x in (k, _flat(v))]
        return bool(self._call(self.redis.eval, _UPDATE_IF_EXISTS, 1, self.key("session", session),
                               "bytes_to_viewer", to_viewer, "bytes_from_viewer", from_viewer,
                               "progress_at", time.time(), *pairs))

    def session_fields(self, session: str, fields: dict) -> bool:
        """Set ``fields`` on a live session's record if it still exists (as ``session_bytes``)."""
        pairs = [x for k, v in fields.items() for x in (k, _flat(v))]
        return bool(pairs) and bool(self._call(self.redis.eval, _UPDATE_IF_EXISTS, 1,
                                               self.key("session", session), *pairs))

    def session_viewer_report(self, session: str, updates: int, seconds: float, fps: float,
                              encoding: str) -> dict | None:
        """Add a viewer's report (``quality.ViewerReport``) to its live session: ``fps`` and
        ``encoding`` now, and the totals a mean is made of. The record afterwards, or ``None``
        if it is gone (never recreated partial, as ``session_bytes``)."""
        key = self.key("session", session)
        done = self._call(self.redis.eval, _VIEWER_REPORT, 1, key, int(updates), repr(float(seconds)),
                          repr(float(fps)), encoding, time.time())
        return self.session(session) if done else None

    def session_notices(self, session: str, fields: dict) -> bool:
        """Set a live session's warnings (``idle_ends_at``, ``ends_at``: epoch seconds, "" when
        off); False if its record is gone (as ``session_bytes``)."""
        args = [x for k, v in fields.items() for x in (k, _flat(v))]
        return bool(self._call(self.redis.eval, _UPDATE_IF_EXISTS, 1, self.key("session", session), *args))

    def machine_sessions(self, machine_id: int) -> list[dict]:
        """The live sessions on a machine, each ``{"id", **fields}`` (who else is watching)."""
        ids = sorted(m.decode() for m in self._call(self.redis.smembers, self.key("machine", machine_id, "sessions")))
        return [{"id": sid, **row} for sid in ids if (row := self.session(sid)) is not None]

    def session_update(self, session: str, fields: dict) -> bool:
        """Set ``fields`` on a live session's record; False if the record is gone (as ``session_bytes``)."""
        args = [v for name, value in fields.items() for v in (name, _flat(value))]
        return bool(self._call(self.redis.eval, _UPDATE_IF_EXISTS, 1, self.key("session", session), *args))

    def session_ended(self, session: str, machine_id: int, *, keep: dict | None = None, keep_for: int = 0) -> None:
        """Drop a session from the live sets, and its record — or, with ``keep``, set those
        fields on it (if it still exists) and let it expire in ``keep_for`` seconds."""
        key = self.key("session", session)
        pipe = self.redis.pipeline()
        if keep:
            pipe.eval(_UPDATE_IF_EXISTS, 1, key, *[x for k, v in keep.items() for x in (k, _flat(v))])
            pipe.expire(key, keep_for)
        else:
            pipe.delete(key)
        pipe.srem(self.key("sessions", "live"), session)
        pipe.srem(self.key("machine", machine_id, "sessions"), session)
        self._call(pipe.execute)

    def session(self, session: str) -> dict | None:
        """A session's live record; ``None`` if there is none, or it is another firm's (``visible``)."""
        row = self._session(session)
        return row if row is not None and visible(row) else None

    def _session(self, session: str) -> dict | None:
        data = self._call(self.redis.hgetall, self.key("session", session))
        return {k.decode(): v.decode() for k, v in data.items()} if data else None

    def live_sessions(self) -> list[dict]:
        """Every live session the code running now may see (``visible``)."""
        ids = sorted(m.decode() for m in self._call(self.redis.smembers, self.key("sessions", "live")))
        out = []
        for sid in ids:
            row = self._session(sid)
            if row is None:  # its node died: drop the stale index entry
                self._call(self.redis.srem, self.key("sessions", "live"), sid)
                continue
            if visible(row):
                out.append({"id": sid, **row})
        return out

    def live_ids(self) -> set[str]:
        """Ids in the live index (``sessions:live``)."""
        return {m.decode() for m in self._call(self.redis.smembers, self.key("sessions", "live"))}

    def machine_session_count(self, machine_id: int) -> int:
        return int(self._call(self.redis.scard, self.key("machine", machine_id, "sessions")))

    # -- nodes --

    def node_alive(self, node: str, address: str, ttl: int) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(self.key("node", node), mapping={"address": address, "seen": time.time()})
        pipe.expire(self.key("node", node), ttl)
        self._call(pipe.execute)

    def node_gone(self, node: str) -> None:
        """A node that stopped cleanly: no survivor needs to wait for its record to expire."""
        self._call(self.redis.delete, self.key("node", node))

    def nodes_alive(self, nodes) -> set[str]:
        """Which of ``nodes`` have a ``node:`` record (i.e. refreshed it within its TTL)."""
        names = list(nodes)
        pipe = self.redis.pipeline()
        for node in names:
            pipe.exists(self.key("node", node))
        return {n for n, alive in zip(names, self._call(pipe.execute)) if alive}

    def try_lock(self, name: str, owner: str, ttl: int) -> bool:
        """A short lock (SET NX EX): only one node does a job; it expires by itself."""
        return bool(self._call(self.redis.set, self.key("lock", name), owner, nx=True, ex=max(1, int(ttl))))

    def node_address(self, node: str) -> str | None:
        raw = self._call(self.redis.hget, self.key("node", node), "address")
        return raw.decode() if raw else None

    # -- streams awaited across nodes (DESIGN.md §6) --

    def stream_waiting(self, session: str, node: str, ttl: int) -> None:
        """``node`` holds the viewer of ``session``: its agent stream belongs there."""
        self._call(self.redis.set, self.key("streamwait", session), node, ex=max(1, ttl))

    def stream_waiter(self, session: str) -> str | None:
        raw = self._call(self.redis.get, self.key("streamwait", session))
        return raw.decode() if raw else None

    def stream_arrived(self, session: str, keep: int = 120) -> None:
        """The stream reached its viewer's node; keep the marker a while, so that a
        failure the agent reports late on its own node still finds the viewer."""
        self._call(self.redis.expire, self.key("streamwait", session), keep)

    def publish(self, node: str, command: nodebus.Command) -> int:
        """Send ``command`` to one node; how many listeners got it (0: nobody listens)."""
        return int(self._call(self.redis.publish, self.key("node", node), nodebus.encode(command)))

    def broadcast(self, command: nodebus.Command) -> int:
        """Send ``command`` to every node."""
        return int(self._call(self.redis.publish, self.key("nodes"), nodebus.encode(command)))


# HSET only on a hash that exists, in one step (a plain HSET would recreate a
# partial record after a Redis restart, which then hides the whole one).
_UPDATE_IF_EXISTS = ("if redis.call('exists', KEYS[1]) == 1 then "
                     "redis.call('hset', KEYS[1], unpack(ARGV)) return 1 end return 0")


# The viewer's figures, added to a hash that exists, in one step.
_VIEWER_REPORT = ("if redis.call('exists', KEYS[1]) == 0 then return 0 end "
                  "redis.call('hincrby', KEYS[1], 'fbu_total', ARGV[1]) "
                  "redis.call('hincrbyfloat', KEYS[1], 'fbu_seconds', ARGV[2]) "
                  "redis.call('hset', KEYS[1], 'fps', ARGV[3], 'encoding', ARGV[4], 'quality_at', ARGV[5]) "
                  "return 1")


def visible(row: dict) -> bool:
    """Is a live session record (its ``org`` field) one the code running now may see?

    Code acting for an organisation (a request, a CLI command: ``tenancy``) sees that firm's
    sessions only, as ``scoping`` does for SQL rows; the hub's and the reaper's own greenlets act
    for none, and see all (they run every firm's sessions). Records written before organisations
    have no ``org``: the default firm's."""
    org = tenancy.current()
    if org is None or tenancy.is_across():
        return True
    try:
        return int(row.get("org") or tenancy.DEFAULT) == org
    except ValueError:
        return False


def _flat(value) -> str | int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    return str(value)

"""``/metrics``: Prometheus exposition of what a gateway node is doing.

One registry per app (tests build many apps in one process). Counters are
bumped by the session code; gauges are read from the hub at scrape time.
Scrapers authenticate with ``metrics_token`` (``Authorization: Bearer``, Prometheus's
``authorization`` / ``bearer_token_file``: no browser login). A node's figures are every firm's
(issue 17), so the only people who may look are the provider's: operators and admins of the
default organisation (a single-firm install's admins, as before); another firm's admin gets 403.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from . import tenancy

bp = Blueprint("metrics", __name__)

#: Seconds: LAN, good WAN, fair, poor, and the ones that feel broken.
RTT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, hub):
        self.registry = CollectorRegistry()
        self.sessions_started = Counter("ponte_sessions_started", "Sessions paired (viewer ⇄ agent)",
                                        registry=self.registry)
        self.sessions_ended = Counter("ponte_sessions_ended", "Sessions ended", ["cause"], registry=self.registry)
        self.session_refused = Counter("ponte_session_refused", "Viewer sockets refused before pairing",
                                       ["why"], registry=self.registry)
        self.bytes = Counter("ponte_relay_bytes", "Bytes relayed", ["direction"], registry=self.registry)
        # One observation per pong (every stream_ping_interval a hop), never per frame.
        self.hop_rtt = Histogram("ponte_hop_rtt_seconds", "Round trip of a WebSocket ping on a session's hop "
                                 "(viewer: viewer ⇄ this node; agent: this node ⇄ the agent, or the node "
                                 "that received its stream)", ["hop"], buckets=RTT_BUCKETS, registry=self.registry)
        Gauge("ponte_live_sessions", "Sessions relayed by this node now",
              registry=self.registry).set_function(lambda: len(hub.relays))
        Gauge("ponte_agents_connected", "Agent control channels held by this node",
              registry=self.registry).set_function(lambda: len(hub.channels))
        Gauge("ponte_streams_pending", "Sessions waiting for their agent stream",
              registry=self.registry).set_function(lambda: len(hub.pending))

    def session_ended(self, reason: str, to_viewer: int, from_viewer: int) -> None:
        cause = ("viewer" if reason.startswith("viewer") else "agent" if reason.startswith("The PC")
                 else "ended" if "ended" in reason.lower() or "disabled" in reason or "revoked" in reason
                 else "error")
        self.sessions_ended.labels(cause).inc()
        self.bytes.labels("to_viewer").inc(to_viewer)
        self.bytes.labels("from_viewer").inc(from_viewer)


def metrics() -> Metrics:
    return current_app.extensions["ponte.metrics"]


@bp.route("/metrics")
def scrape():
    token = current_app.config["PONTE"].metrics_token
    header = request.headers.get("Authorization", "")
    by_token = bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    if not by_token:
        if not current_user.is_authenticated:
            abort(401, "Metrics need the metrics token or a login of the provider's.")
        if current_user.organisation_id != tenancy.DEFAULT or not (current_user.is_admin or current_user.is_operator):
            abort(403, "Metrics are the provider's: every organisation's sessions are in them.")
    return Response(generate_latest(metrics().registry), mimetype=CONTENT_TYPE_LATEST)

"""Two firms on one Ponte, live (issue 17): each firm has a person "mario" and a PC "reception",
served by its own agent. Each mario reaches his own firm's PC (told apart by the screen size of
its VNC server), never the other's, whatever ids, tickets or credentials are sent; on one node,
and with viewers and agents on two gateway processes sharing Redis and the database."""

from __future__ import annotations

import tomllib

import pytest

from agents.transport import HTTPError, TransportError
from tests.conftest import needs
from tests.support import AgentProcess, WebClient, rfb_open, wait_for

pytestmark = [needs("Xvnc"), pytest.mark.slow]

#: Firm → (slug, mario's password, its VNC server's screen).
FIRMS = {"a": ("default", "mariopassA1", "320x240"), "b": ("bianchi", "mariopassB1", "352x288")}


def _records(gw, **env):
    """An app of this test's own on ``gw``'s database and Redis: the firms are set up in-process
    (each ``python -m gateway`` command would start a whole app again)."""
    from gateway import create_app

    overrides = {"instance_path": str(gw.instance), "redis_url": gw.redis_url,
                 "redis_prefix": gw.extra_env["PONTE_REDIS_PREFIX"]}
    if "PONTE_DATABASE_URL" in env:
        overrides.update(database_url=env["PONTE_DATABASE_URL"], secret_key=env["PONTE_SECRET_KEY"])
    return create_app(overrides)


def _setup(app, agent_nodes, vnc_factory, tmp_path) -> list[AgentProcess]:
    """Firm B; in each firm mario and his "reception", whose agent connects to its node."""
    from gateway import ops, tenancy
    from gateway.ops.organisations import create_organisation

    live = app.extensions["ponte.live"]
    agents = []
    with app.app_context():
        orgs = {"a": tenancy.DEFAULT, "b": create_organisation("Bianchi Srl", slug="bianchi").id}
        for firm, node in zip(("a", "b"), agent_nodes):
            slug, password, screen = FIRMS[firm]
            with tenancy.acting_for(orgs[firm]):
                mario = ops.add_user("mario", password)
                machine, code = ops.add_machine("reception")
                ops.grant(mario, machine)
                machine_id = machine.id
            agent = AgentProcess(tmp_path / f"agent-{firm}", node.url, vnc_factory(geometry=screen))
            agent.enroll(code)
            agent.start()
            agents.append(agent)
            wait_for(lambda: live.agent(machine_id), timeout=30, interval=0.3, what=f"{slug}'s reception online")
    return agents


def _screen(client: WebClient, ticket: str) -> tuple[int, int]:
    ws = client.view_socket(ticket)
    ws.settimeout(20)
    try:
        init = rfb_open(ws).server_init
        return init.width, init.height
    finally:
        ws.close_with(1000)


def _check_apart(viewer_nodes, agents, tmp_path) -> None:
    marios = {firm: WebClient(node.url, "mario", FIRMS[firm][1], organisation=FIRMS[firm][0])
              for firm, node in zip(("a", "b"), viewer_nodes)}
    issued = {firm: marios[firm].open_session("reception") for firm in marios}
    assert issued["a"]["machine"]["id"] != issued["b"]["machine"]["id"]
    for firm in marios:   # the same name, each firm's own PC: its own screen
        width, height = FIRMS[firm][2].split("x")
        assert _screen(marios[firm], issued[firm]["ticket"]) == (int(width), int(height))

    for me, them in (("a", "b"), ("b", "a")):
        # the other firm's PC by id (or by name: his own "reception" is the one he gets, above)
        with pytest.raises(HTTPError) as err:
            marios[me].json("POST", f"/api/v1/machines/{issued[them]['machine']['id']}/sessions", json_body={})
        assert err.value.status == 403
        # the other firm's ticket: refused, and burnt for its owner too
        ticket = marios[them].open_session("reception")["ticket"]
        with pytest.raises(TransportError, match="403"):
            marios[me].view_socket(ticket)
        with pytest.raises(TransportError, match="403"):
            marios[them].view_socket(ticket)

    # Firm B's agent presenting firm A's machine id with its own secret: refused, it stops.
    agents[1].stop()
    forged_dir = tmp_path / "forged"
    forged = AgentProcess(forged_dir, agents[1].gateway_url, None)
    forged_dir.mkdir()
    secret = tomllib.loads(agents[1].credential.read_text())["credential"].split(".", 1)[1]
    forged.credential.write_text(f'gateway = "{agents[1].gateway_url}"\n'
                                 f'credential = "{issued["a"]["machine"]["id"]}.{secret}"\n')
    forged.start()
    try:
        assert forged.proc.wait(30) == 3
        assert "refused this PC's credential" in forged.log_text()
    finally:
        forged.stop()


def test_two_firms_agents_on_one_node(gateway_factory, vnc_factory, tmp_path):
    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute")
    agents = _setup(_records(gw), (gw, gw), vnc_factory, tmp_path)
    try:
        _check_apart((gw, gw), agents, tmp_path)
    finally:
        for agent in agents:
            agent.stop()


def test_two_firms_across_two_gateway_processes(gateway_factory, vnc_factory, tmp_path):
    """Each firm's agent on one node, its viewer on the other: the stream request crosses the
    node bus with the session's firm, checked by the agent's node."""
    shared = {"PONTE_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "PONTE_SECRET_KEY": "k" * 48,
              "PONTE_REDIS_PREFIX": f"orgs-{tmp_path.name}:", "PONTE_HEARTBEAT": "2",
              "PONTE_LOGIN_LIMIT": "1000 per minute"}
    one = gateway_factory(PONTE_NODE_ID="node-1", **shared)
    two = gateway_factory(PONTE_NODE_ID="node-2", **shared)
    agents = _setup(_records(one, **shared), (one, two), vnc_factory, tmp_path)   # A's agent on node 1, B's on 2
    try:
        _check_apart((two, one), agents, tmp_path)              # A's viewer on node 2, B's on node 1
        assert "forwarded to the node at" in one.log_tail(40000) + two.log_tail(40000)
    finally:
        for agent in agents:
            agent.stop()


def _until_closed(ws, timeout: float) -> bool:
    """Read a viewer socket until the gateway closes it (True) or ``timeout`` passes (False)."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    ws.settimeout(1)
    while time.monotonic() < deadline:
        try:
            if ws.read_message() is None:
                return True
        except (socket.timeout, TimeoutError):
            continue
        except (OSError, TransportError):
            return True
    return False


def test_disabling_a_firm_ends_it_on_every_node(gateway_factory, vnc_factory, tmp_path):
    """Firm B's agent on node 2, its viewer on node 1; firm A's the other way round. The provider
    disables B (over the node bus): B's session and agent channel end on both nodes, B's agent
    keeps dialling and is refused, B's login is dead everywhere; A goes on. Enabled again, B's
    agent is back by itself."""
    from gateway import tenancy
    from gateway.extensions import db
    from gateway.models import Organisation
    from gateway.ops.organisations import set_disabled

    shared = {"PONTE_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "PONTE_SECRET_KEY": "k" * 48,
              "PONTE_REDIS_PREFIX": f"orgsoff-{tmp_path.name}:", "PONTE_HEARTBEAT": "2",
              "PONTE_LOGIN_LIMIT": "1000 per minute"}
    one = gateway_factory(PONTE_NODE_ID="node-1", **shared)
    two = gateway_factory(PONTE_NODE_ID="node-2", **shared)
    app = _records(one, **shared)
    agents = _setup(app, (one, two), vnc_factory, tmp_path)
    try:
        a = WebClient(two.url, "mario", FIRMS["a"][1], organisation="default")
        b = WebClient(one.url, "mario", FIRMS["b"][1], organisation="bianchi")
        sockets = {}
        for firm, client in (("a", a), ("b", b)):
            sockets[firm] = client.view_socket(client.open_session("reception")["ticket"])
            sockets[firm].settimeout(20)
            rfb_open(sockets[firm])
        with app.app_context(), tenancy.across_organisations():
            org = db.session.scalar(db.select(Organisation).where(Organisation.slug == "bianchi"))
            b_id = org.id
            assert set_disabled(org, True, actor="operator")
        assert _until_closed(sockets["b"], 20), "firm B's session did not end"
        wait_for(lambda: "organisation_disabled" in two.log_tail(40000) or "suspended" in agents[1].log_text(),
                 timeout=30, interval=0.5, what="B's agent refused")
        assert agents[1].proc.poll() is None            # not told "revoked": it keeps dialling
        with pytest.raises(HTTPError) as err:
            b.json("GET", "/api/v1/me")
        assert err.value.status == 401
        assert not _until_closed(sockets["a"], 3)        # A's session is still open …
        assert a.json("GET", "/api/v1/me")["user"]["name"] == "mario"   # … and A's login
        with app.app_context(), tenancy.across_organisations():
            assert set_disabled(db.session.get(Organisation, b_id), False, actor="operator")
        live = app.extensions["ponte.live"]
        with app.app_context(), tenancy.acting_for(b_id):
            from gateway import ops

            b_pc = ops.get_machine("reception").id
        wait_for(lambda: live.agent(b_pc), timeout=60, interval=0.5, what="B's agent back")
        b_again = WebClient(one.url, "mario", FIRMS["b"][1], organisation="bianchi")
        width, height = FIRMS["b"][2].split("x")
        assert _screen(b_again, b_again.open_session("reception")["ticket"]) == (int(width), int(height))
        for ws in sockets.values():
            ws.close_with(1000)
    finally:
        for agent in agents:
            agent.stop()

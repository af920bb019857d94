"""File transfers on the control channel: ``OpenFiles`` from the gateway, as transcripts."""

from __future__ import annotations

import json

import pytest

from agents.protocol import control
from agents.protocol.control import (AgentConnection, AgentInfo, GatewayConnection, Heartbeat, Hello,
                                     LocalProtocolError, OpenFiles, RemoteProtocolError, State, StreamFailed,
                                     Welcome)
from tests.support.playbook import Playbook

INFO = AgentInfo(version="1", os="Linux", hostname="pc", vnc_ok=True, vnc_state="ok")
HELLO = Hello(credential="m1.secret", info=INFO)
WELCOME = Welcome(machine="pc", heartbeat=20.0)
UPLOAD = OpenFiles(transfer="a" * 32, token="t0k", op="upload", name="report.pdf", size=1234)
LISTING = OpenFiles(transfer="b" * 32, token="t1k", op="list")


def test_gateway_asks_for_a_file_stream_once_open_and_the_agent_takes_it():
    gateway = Playbook(GatewayConnection()) << HELLO
    with pytest.raises(LocalProtocolError, match="state WELCOME"):
        gateway >> UPLOAD  # not before the welcome
    gateway >> WELCOME >> UPLOAD << Heartbeat(info=INFO) >> LISTING
    # The agent reports a file stream it could not open like a session stream.
    gateway << StreamFailed(session=UPLOAD.transfer, reason="cannot reach the gateway")
    assert gateway.state is State.OPEN

    agent = Playbook(AgentConnection()) >> HELLO
    with pytest.raises(RemoteProtocolError, match="expected welcome"):
        agent << UPLOAD
    agent = Playbook(AgentConnection()) >> HELLO << WELCOME << UPLOAD << LISTING
    assert [event for _d, event, _b in agent.transcript[-2:]] == [UPLOAD, LISTING]
    with pytest.raises(LocalProtocolError):
        agent >> UPLOAD  # the agent never asks the gateway for a transfer


def test_open_files_on_the_wire():
    data = control.encode(UPLOAD)
    assert json.loads(data) == {"type": "open_files", "transfer": "a" * 32, "token": "t0k", "op": "upload",
                                "folder": 0, "name": "report.pdf", "size": 1234, "upload": ""}
    assert control.decode_from_gateway(data) == UPLOAD
    resumable = OpenFiles(transfer="c" * 32, token="t", op="upload", name="a.bin", size=9, upload="f" * 32)
    assert control.decode_from_gateway(control.encode(resumable)) == resumable
    # An older gateway's fields are optional; name is cleaned like every string.
    raw = b'{"type":"open_files","transfer":"x","token":"y","op":"list"}'
    assert control.decode_from_gateway(raw) == OpenFiles(transfer="x", token="y", op="list")
    dirty = json.dumps({"type": "open_files", "transfer": "x", "token": "y", "op": "upload",
                        "name": "a\nb\u202e.txt"}).encode()
    assert control.decode_from_gateway(dirty).name == "a b.txt"


@pytest.mark.parametrize("bad,field", [
    ({"op": "delete"}, "'op'"), ({"op": 1}, "'op'"), ({}, "'op'"),
    ({"op": "upload", "size": -1}, "'size'"), ({"op": "upload", "size": 2**60}, "'size'"),
    ({"op": "upload", "size": "1"}, "'size'"), ({"op": "upload", "size": True}, "'size'"),
    ({"op": "download", "folder": 1.5}, "'folder'"), ({"op": "upload", "name": 5}, "'name'"),
    ({"op": "upload", "name": "x" * 600}, "'name'")])
def test_bad_open_files_is_the_peers_mistake(bad, field):
    with pytest.raises(RemoteProtocolError, match=field):
        control.decode_from_gateway(json.dumps({"type": "open_files", "transfer": "x", "token": "y",
                                                **bad}).encode())


def test_open_files_goes_one_way_only():
    with pytest.raises(RemoteProtocolError, match="unexpected control message type"):
        control.decode_from_agent(control.encode(UPLOAD))

"""The node bus, with bytes only: what each command looks like on the wire, and junk refused."""

from __future__ import annotations

import json

import pytest

from gateway import nodebus
from gateway.errors import GatewayError
from gateway.nodebus import (EndSession, EndUser, NodeBusError, OpenFiles, OpenStream, RetryVnc, RevokeMachine,
                             StreamFailed, decode, encode)

#: Each command and its exact message: the wire format other nodes (and older ones) speak.
TRANSCRIPT = [
    (EndSession("s-1", "Backup at 18:00"), b'{"cmd":"end","session":"s-1","reason":"Backup at 18:00"}'),
    (RevokeMachine(7, "Revoked"), b'{"cmd":"revoke","machine_id":7,"reason":"Revoked"}'),
    (EndUser(3, "Your account was disabled"), b'{"cmd":"end_user","user_id":3,"reason":"Your account was disabled"}'),
    (OpenStream(7, "s-2", "tok", 4), b'{"cmd":"open","machine_id":7,"session":"s-2","token":"tok","organisation_id":4}'),
    (RetryVnc(7), b'{"cmd":"vnc_retry","machine_id":7}'),
    (StreamFailed(7, "s-3", "VNC refused"), b'{"cmd":"stream_failed","machine_id":7,"session":"s-3",'
                                            b'"reason":"VNC refused"}'),
    (OpenFiles(7, "t-1", "tok", "upload", 0, "a.txt", 5),
     b'{"cmd":"open_files","machine_id":7,"transfer":"t-1","token":"tok","op":"upload","folder":0,'
     b'"name":"a.txt","size":5,"upload":""}'),
    (OpenFiles(7, "t-2", "tok", "upload", 0, "b.bin", 9, "f" * 32),
     b'{"cmd":"open_files","machine_id":7,"transfer":"t-2","token":"tok","op":"upload","folder":0,'
     b'"name":"b.bin","size":9,"upload":"' + b"f" * 32 + b'"}'),
]


@pytest.mark.parametrize("bad", [{"size": -1}, {"size": "5"}, {"folder": True}, {"op": "x" * 200},
                                 {"upload": 5}, {"upload": "f" * 200}])
def test_open_files_fields_are_checked(bad):
    obj = {"cmd": "open_files", "machine_id": 7, "transfer": "t", "token": "k", "op": "list", **bad}
    with pytest.raises(NodeBusError):
        decode(json.dumps(obj).encode())


@pytest.mark.parametrize(("command", "wire"), TRANSCRIPT, ids=lambda v: type(v).__name__)
def test_each_command_has_one_wire_form(command, wire):
    assert encode(command) == wire
    assert decode(wire) == command
    assert decode(wire.decode()) == command  # redis-py may hand over str when decoding responses


@pytest.mark.parametrize(("wire", "command"), [
    (b'{"cmd":"end","session":"s"}', EndSession("s", "Ended by an admin")),
    (b'{"cmd":"revoke","machine_id":1}', RevokeMachine(1, "Machine revoked")),
    (b'{"cmd":"end_user","user_id":1}', EndUser(1, "Account disabled")),
    (b'{"cmd":"stream_failed","machine_id":1,"session":"s"}', StreamFailed(1, "s", "")),
    (b'{"cmd":"vnc_retry","machine_id":1,"extra":"ignored"}', RetryVnc(1)),
    # a node from before organisations (issue 17) asks for the default firm's stream
    (b'{"cmd":"open","machine_id":7,"session":"s-2","token":"tok"}', OpenStream(7, "s-2", "tok", 1)),
])
def test_missing_reasons_take_their_defaults(wire, command):
    assert decode(wire) == command


@pytest.mark.parametrize(("wire", "why"), [
    (b"", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[" * 5000, "not JSON"),
    (b'["end"]', "not an object"),
    (b'{"session":"s"}', "unknown node command None"),
    (b'{"cmd":"reboot"}', "unknown node command 'reboot'"),
    (b'{"cmd":7}', "unknown node command 7"),
    (b'{"cmd":"end"}', "field 'session' missing"),
    (b'{"cmd":"open","machine_id":1,"session":"s"}', "field 'token' missing"),
    (b'{"cmd":"revoke","machine_id":"7"}', "'machine_id' must be a record id"),
    (b'{"cmd":"revoke","machine_id":true}', "'machine_id' must be a record id"),
    (b'{"cmd":"revoke","machine_id":-1}', "'machine_id' must be a record id"),
    (b'{"cmd":"end_user","user_id":1.5}', "'user_id' must be a record id"),
    (b'{"cmd":"end","session":["s"]}', "'session' must be a string"),
    (b'{"cmd":"end","session":"s","reason":null}', "'reason' must be a string"),
    (json.dumps({"cmd": "end", "session": "s" * 129}).encode(), "'session' longer than 128"),
    (json.dumps({"cmd": "end", "session": "s", "reason": "r" * 1025}).encode(), "'reason' longer than 1024"),
    (b" " * (nodebus.MAX_MESSAGE + 1), "larger than"),
])
def test_junk_is_a_clear_error(wire, why):
    with pytest.raises(NodeBusError, match=why.replace("[", r"\[")):
        decode(wire)


def test_errors_belong_to_the_gateway_tree():
    assert issubclass(NodeBusError, GatewayError)
    with pytest.raises(NodeBusError, match="not a node command"):
        encode({"cmd": "end", "session": "s"})  # the raw dicts of old are not commands
    with pytest.raises(NodeBusError):
        decode(None)


def test_hub_drops_junk_and_applies_commands(app, caplog):
    """The listener's loop body: junk is logged and dropped; a valid command reaches the hub."""
    hub = app.extensions["ponte.hub"]
    seen = []
    hub.end_user = lambda user_id, reason: seen.append((user_id, reason))
    for data in (b"junk", b'{"cmd":"end_user","user_id":"2"}', encode(EndUser(2, "bye"))):
        hub.on_bus_message(data)
    assert seen == [(2, "bye")]
    assert caplog.text.count("junk on node channel dropped") == 2

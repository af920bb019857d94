"""The control protocol (agents/protocol/control.py): round trips, limits, and junk.

Property: whatever bytes or JSON arrive, a decoder returns an event of its
table or raises ``ControlError`` — never anything else.
"""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.protocol import control
from agents.protocol.control import (AgentInfo, Attach, ControlError, Heartbeat, Hello, OpenStream,
                                     Reconnect, Refused, RetryVnc, StreamFailed, Welcome)

DECODERS = {
    "from_gateway": (control.decode_from_gateway, control.GATEWAY_TO_AGENT),
    "from_agent": (control.decode_from_agent, control.AGENT_TO_GATEWAY),
    "attach": (lambda m: control.decode(m, control.STREAM_ATTACH), control.STREAM_ATTACH),
}
ALL_TYPES = sorted({*control.GATEWAY_TO_AGENT, *control.AGENT_TO_GATEWAY, *control.STREAM_ATTACH})
FIELD_NAMES = ["type", "credential", "info", "mode", "machine", "heartbeat", "code", "message", "session",
               "token", "reason", "version", "os", "hostname", "vnc_ok", "vnc_detail"]


def only_control_errors(decoder, table, message: bytes):
    try:
        event = decoder(message)
    except ControlError:
        return None
    assert type(event) in table.values()
    return event


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), which=st.sampled_from(sorted(DECODERS)))
def test_arbitrary_bytes_only_raise_control_error(data, which):
    decoder, table = DECODERS[which]
    only_control_errors(decoder, table, data)


@settings(max_examples=300, deadline=None)
@given(value=json_values, which=st.sampled_from(sorted(DECODERS)))
def test_arbitrary_json_only_raises_control_error(value, which):
    decoder, table = DECODERS[which]
    only_control_errors(decoder, table, json.dumps(value).encode())


@settings(max_examples=500, deadline=None)
@given(kind=st.sampled_from(ALL_TYPES + ["", "Welcome", None, 1]),
       fields=st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8),
       info=st.one_of(json_values, st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6)),
       which=st.sampled_from(sorted(DECODERS)))
def test_near_valid_messages_only_raise_control_error(kind, fields, info, which):
    """Right ``type``, fields of any JSON type: the shape checks, not luck, reject them."""
    decoder, table = DECODERS[which]
    obj = {**fields, "type": kind, "info": info}
    event = only_control_errors(decoder, table, json.dumps(obj).encode())
    if event is not None:  # what passed is well-typed
        for name, value in vars(event).items():
            if name == "heartbeat":
                assert isinstance(value, float) and 1 <= value <= 3600
            elif name == "info":
                assert isinstance(value, AgentInfo) and isinstance(value.vnc_ok, bool)
            else:
                assert isinstance(value, str) and len(value) <= control.MAX_TEXT


texts = st.text(max_size=60)
infos = st.builds(AgentInfo, version=st.text(max_size=64), os=st.text(max_size=128),
                  hostname=st.text(max_size=255), vnc_ok=st.booleans(), vnc_detail=texts)
events = st.one_of(
    st.builds(Hello, credential=texts, info=infos, mode=st.sampled_from(["serve", "check"])),
    st.builds(Heartbeat, info=infos),
    st.builds(StreamFailed, session=texts, reason=texts),
    st.builds(Welcome, machine=texts, heartbeat=st.floats(min_value=1, max_value=3600)),
    st.builds(Refused, code=texts, message=texts),
    st.builds(OpenStream, session=texts, token=texts),
    st.builds(RetryVnc),
    st.builds(Reconnect, after=st.floats(min_value=0, max_value=3600), reason=texts),
    st.builds(Attach, token=texts),
)


@settings(max_examples=300, deadline=None)
@given(event=events)
def test_round_trip(event):
    table = next(t for t in (control.AGENT_TO_GATEWAY, control.GATEWAY_TO_AGENT, control.STREAM_ATTACH)
                 if type(event) in t.values())
    try:
        event.info.vnc_detail.encode("utf-8") if hasattr(event, "info") else None
        for value in vars(event).values():
            if isinstance(value, str):
                value.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(ControlError):
            control.decode(control.encode(event), table)
        return
    assert control.decode(control.encode(event), table) == _cleaned(event)


def _cleaned(event):
    """``event`` as the decoder hands it on: every string through ``text.clean``."""
    from dataclasses import replace

    from agents.protocol.text import clean

    changes = {k: clean(v) for k, v in vars(event).items() if isinstance(v, str)}
    if hasattr(event, "info"):
        changes["info"] = replace(event.info, **{k: clean(v) for k, v in vars(event.info).items()
                                                 if isinstance(v, str)})
    return replace(event, **changes)


@pytest.mark.parametrize("message, error", [
    (b"", "not JSON"),
    (b"\xff\xfe junk", "not JSON"),
    (b"[" * 16000, "not JSON"),  # nests deeper than the JSON parser allows
    (b"[]", "not an object"),
    (b'"welcome"', "not an object"),
    (b'{"type": "welcome"}', "heartbeat"),
    (b'{"type": "welcome", "machine": "pc", "heartbeat": 0}', "heartbeat"),
    (b'{"type": "welcome", "machine": "pc", "heartbeat": NaN}', "heartbeat"),
    (b'{"type": "welcome", "machine": "pc", "heartbeat": Infinity}', "heartbeat"),
    (b'{"type": "welcome", "machine": "pc", "heartbeat": true}', "heartbeat"),
    (b'{"type": "welcome", "machine": 7, "heartbeat": 15}', "must be a string"),
    (b'{"type": "welcome", "machine": "\\ud800", "heartbeat": 15}', "not valid Unicode"),
    (b'{"type": "hello", "credential": "x", "info": {}}', "unexpected control message type"),
    (b'{"type": "open", "session": "s", "token": "' + b"a" * 600 + b'"}', "longer than"),
    (b'{"type": ["open"]}', "unexpected control message type"),
    (b'{"type": "reconnect", "after": -1, "reason": "r"}', "'after'"),
    (b'{"type": "reconnect", "after": 1e9, "reason": "r"}', "'after'"),
    (b'{"type": "reconnect", "after": "soon", "reason": "r"}', "'after'"),
    (b'{"type": "refused", "code": "x", "message": "y", "heartbeat": ' + b"9" * 5000 + b"}", "not JSON"),
])
def test_rejections_from_gateway(message, error):
    with pytest.raises(ControlError, match=error):
        control.decode_from_gateway(message)


def test_oversized_message():
    big = json.dumps({"type": "open", "session": "s", "token": "t", "pad": "x" * 20000}).encode()
    with pytest.raises(ControlError, match="larger than"):
        control.decode_from_gateway(big)


def test_hello_info_shape():
    with pytest.raises(ControlError, match="'info' must be an object"):
        control.decode_from_agent(b'{"type": "hello", "credential": "c", "info": []}')
    with pytest.raises(ControlError, match="'vnc_ok' must be a boolean"):
        control.decode_from_agent(b'{"type": "heartbeat", "info": {"vnc_ok": 1}}')
    event = control.decode_from_agent(b'{"type": "heartbeat", "info": {"vnc_ok": true, "extra": [1]}}')
    assert event == Heartbeat(AgentInfo(vnc_ok=True))


def test_encode_refuses_non_events():
    with pytest.raises(ControlError):
        control.encode({"type": "hello"})


# -- agent-supplied text is safe to log, store and show (issue 9 item 7) --------------------------

HOSTILE = [
    ("pc\r\n2024-01-01 12:00:00 INFO gateway.auth: admin logged in", "pc 2024-01-01 12:00:00 INFO gateway.auth: admin logged in"),
    ("a\nb\tc\x0bd\x0ce\x1cf\x85g\u2028h\u2029i", "a b c d e f g h i"),
    ("esc\x1b[2Jclear", "esc[2Jclear"),
    ("nul\x00del\x7fc1\x9b", "nuldelc1"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),
    ("\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069x", "x"),
    ("Città 東京 👩‍💻", "Città 東京 👩‍💻"),   # letters and emoji joiners stay
]


@pytest.mark.parametrize("raw, shown", HOSTILE)
def test_agent_text_fields_arrive_without_controls(raw, shown):
    hello = control.decode_from_agent(json.dumps({"type": "hello", "credential": "1.x", "info": {
        "version": raw, "os": raw, "hostname": raw, "vnc_ok": False, "vnc_detail": raw}}).encode())
    assert hello.info == AgentInfo(version=shown[:64], os=shown, hostname=shown, vnc_ok=False, vnc_detail=shown)
    failed = control.decode_from_agent(json.dumps({"type": "stream_failed", "session": "s", "reason": raw}).encode())
    assert failed == StreamFailed(session="s", reason=shown)
    # and the same on the agent's side, for what a (hostile) gateway sends
    reconnect = control.decode_from_gateway(json.dumps({"type": "reconnect", "after": 1, "reason": raw}).encode())
    assert reconnect.reason == shown


def test_every_decoded_string_is_clean():
    """Whatever a decoder lets through holds no control or bidi character (fields of every type)."""
    bad = "x\r\ny\x1b\u202e"
    for table in (control.AGENT_TO_GATEWAY, control.GATEWAY_TO_AGENT, control.STREAM_ATTACH):
        for kind, cls in table.items():
            obj = {"type": kind, "heartbeat": 5, "after": 1, "info": {"hostname": bad, "os": bad,
                                                                      "version": bad, "vnc_detail": bad,
                                                                      "vnc_state": bad}}
            obj.update({f: bad for f in ("credential", "mode", "session", "reason", "machine", "code",
                                         "message", "token", "mac", "broadcast", "transfer", "name", "upload")})
            obj["op"] = "list"  # one of ``FILE_OPS``, not text: checked against the list
            if cls is control.Wake:  # a MAC and an IPv4 address, not text: refused outright
                with pytest.raises(ControlError):
                    control.decode(json.dumps(obj).encode(), table)
                continue
            event = control.decode(json.dumps(obj).encode(), table)
            values = [v for k, v in vars(event).items() if isinstance(v, str) and k != "op"]
            if hasattr(event, "info"):
                values += [v for v in vars(event.info).values() if isinstance(v, str)]
            assert all(v == "x y" for v in values), (kind, values)
            assert values or not [f for f in fields(cls) if f.type == "str"], kind


def test_text_bounds_hold_after_cleaning():
    from agents.protocol.text import clean

    assert clean("a" * 10, 4) == "aaa…" and len(clean("é" * 600, 512)) == 512
    assert clean("\r\n" * 300) == " " and clean("", 5) == ""

"""The hub's stream pairing: a stream attaches only with the one-time token sent to its agent."""

from __future__ import annotations

import pytest

from gateway.hub import AgentUnavailable, PendingStream
from gateway.security import hash_token


@pytest.fixture
def hub(app):
    return app.extensions["ponte.hub"]


def test_stream_token_is_checked_and_single_use(hub):
    hub.pending["s1"] = PendingStream("s1", 7, hash_token("right-token"))
    assert hub.claim_stream("s1", "wrong-token") is None
    assert hub.claim_stream("nope", "right-token") is None
    assert "s1" in hub.pending  # a wrong guess does not cancel the real stream
    claimed = hub.claim_stream("s1", "right-token")
    assert claimed is not None and claimed.machine_id == 7
    assert hub.claim_stream("s1", "right-token") is None  # one use only
    assert hub.session_done("s1") is None and "s1" not in hub.attached


def test_failure_of_another_machine_is_ignored(hub):
    pending = PendingStream("s2", 7, hash_token("t"))
    hub.pending["s2"] = pending
    hub.stream_failed(8, "s2", "not yours")  # another agent cannot fail this session
    assert not pending.result.ready()
    hub.stream_failed(7, "s2", "VNC server not answering")
    with pytest.raises(AgentUnavailable, match="VNC server not answering"):
        pending.result.get(block=False)


def test_machine_without_agent_anywhere_is_unavailable(app, hub):
    with app.app_context(), pytest.raises(AgentUnavailable):
        hub.request_stream(12345, "s3")
    assert "s3" not in hub.pending

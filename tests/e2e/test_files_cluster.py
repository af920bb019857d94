"""Files across two gateway nodes: the person's request on node A, the agent on node B.

A asks B over Redis (``nodebus.OpenFiles``) to have the agent open its file stream; the
stream lands on B (the agent's URL) and B forwards it to A (``peering.Forward``), where
the request waits — the same path a session's stream takes (tests/e2e/test_cluster.py).
"""

from __future__ import annotations

import pytest

from tests.e2e.test_files import ONLINE, FileClient
from tests.support import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_upload_and_download_through_the_other_node(gateway_factory, agent_factory, tmp_path):
    shared_env = {"PONTE_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "PONTE_SECRET_KEY": "k" * 48,
                  "PONTE_REDIS_PREFIX": f"files-cluster-{tmp_path.name}:", "PONTE_HEARTBEAT": "2"}
    a = gateway_factory(PONTE_NODE_ID="node-a", **shared_env)
    b = gateway_factory(PONTE_NODE_ID="node-b", **shared_env)
    a.add_user("emp", "emppass12")
    inbox = tmp_path / "inbox"
    agent_factory(b, "pc", None, wait_online=False, extra_args=("--files-folder", str(inbox)))
    a.cli("grant", "emp", "pc")
    wait_for(lambda: a.machine_state("pc") in ONLINE, timeout=60, interval=0.5, what="agent online on node B")

    f = FileClient(a, machine="pc")
    status, body = f.upload("across.txt", b"through node B")
    assert status == 201, body
    assert (inbox / "across.txt").read_bytes() == b"through node B"
    conn, resp = f.download(0, "across.txt")
    assert resp.status == 200 and resp.read() == b"through node B"
    conn.close()
    assert "forwarded to the node at" in b.log_tail(20000)  # it did go through B

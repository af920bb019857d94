"""Connection limits (gateway/admission.py): the bookkeeping, as transcripts.

Against a real gateway under a low descriptor limit: tests/e2e/test_socket_edge.py.
"""

from __future__ import annotations

import pytest

from gateway.admission import CLIENT, TOTAL, ConnectionLimits, Slot, total_for


@pytest.mark.parametrize("nofile, total", [(256, 192), (1024, 768), (65536, 49152), (64, 1), (80, 16)])
def test_total_keeps_a_reserve_of_descriptors(nofile, total):
    assert total_for(nofile) == total


def test_per_client_and_total():
    limits = ConnectionLimits(total=10, per_client=3)
    a = [limits.admit("10.0.0.1") for _ in range(3)]
    assert all(isinstance(s, Slot) for s in a)
    assert limits.admit("10.0.0.1") == CLIENT           # a fourth from the same address
    b = [limits.admit(f"10.0.1.{i}") for i in range(7)]
    assert all(isinstance(s, Slot) for s in b) and limits.open == 10
    assert limits.admit("10.0.2.1") == TOTAL            # a newcomer, but the node is full
    limits.release(a[0])
    limits.release(a[0])                                # twice: counted once
    assert limits.open == 9 and isinstance(limits.admit("10.0.0.1"), Slot)
    assert dict(limits.refused) == {CLIENT: 1, TOTAL: 1}


def test_one_address_never_gets_more_than_half():
    limits = ConnectionLimits(total=100, per_client=1000)
    assert limits.per_client == 50


def test_rekey_counts_a_proxied_websocket_under_its_client():
    limits = ConnectionLimits(total=10, per_client=2)
    proxied = [limits.admit(None) for _ in range(5)]    # behind a proxy: total only at connect
    assert limits.open == 5 and not limits.by_client
    assert limits.rekey(proxied[0], "203.0.113.7") and limits.rekey(proxied[1], "203.0.113.7")
    assert not limits.rekey(proxied[2], "203.0.113.7")  # that client has its two WebSockets
    assert limits.rekey(proxied[2], "198.51.100.1")
    limits.release(proxied[0])
    assert limits.by_client == {"203.0.113.7": 1, "198.51.100.1": 1} and limits.open == 4

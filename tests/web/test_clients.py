"""The client a request is counted as: X-Forwarded-For only from a trusted proxy, right to left."""

from __future__ import annotations

import pytest

from policywatch.web.clients import client_address, networks

LOCAL = networks(["127.0.0.1", "::1"])
CHAIN = networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "header", "proxies", "expected"),
    [
        # a direct client: its own address, whatever it claims
        ("198.51.100.7", ["203.0.113.9"], LOCAL, "198.51.100.7"),
        # behind the local proxy: the address the proxy appended
        ("127.0.0.1", ["203.0.113.9"], LOCAL, "203.0.113.9"),
        # a client that sends its own header cannot choose: the proxy's entry is the last one
        ("127.0.0.1", ["1.2.3.4, 203.0.113.9"], LOCAL, "203.0.113.9"),
        ("127.0.0.1", ["1.2.3.4", "203.0.113.9"], LOCAL, "203.0.113.9"),  # two header lines
        # a chain of trusted proxies is walked through
        ("127.0.0.1", ["203.0.113.9, 10.1.2.3"], CHAIN, "203.0.113.9"),
        ("127.0.0.1", ["203.0.113.9, 10.1.2.3"], LOCAL, "10.1.2.3"),  # 10.x not trusted here
        # nothing forwarded, or garbage last: the proxy itself is the client
        ("127.0.0.1", [], LOCAL, "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.9, not-an-address"], LOCAL, "127.0.0.1"),
        # IPv6, ports and IPv4-mapped addresses
        ("::1", ["[2001:db8::5]:443"], LOCAL, "2001:db8::5"),
        ("::ffff:127.0.0.1", ["192.0.2.8:55000"], LOCAL, "192.0.2.8"),
        ("127.0.0.1", ["203.0.113.9"], (), "127.0.0.1"),  # trusting nobody
        (None, ["203.0.113.9"], LOCAL, None),
    ],
)
def test_client_address(
    peer: str | None, header: list[str], proxies: tuple, expected: str | None
) -> None:
    assert client_address(peer, header, proxies) == expected

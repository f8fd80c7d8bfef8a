"""Who is asking: the client address behind a trusted reverse proxy.

The subscribe form is rate-limited per client. Behind a reverse proxy on the same host (the
usual deployment: nginx or Caddy in front of ``policywatch serve``), every request comes from
127.0.0.1, so without this every reader would share one limit, and ten subscriptions an hour
would lock the form for everyone. A proxy appends the address it received the request from to
``X-Forwarded-For``; that header is believed only when the connection itself comes from a
proxy named in ``[site] trusted_proxies``, and it is read from the right, skipping the trusted
proxies, so a client cannot choose the address it is counted as by sending the header itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["Network", "client_address", "networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    """``[site] trusted_proxies`` as networks (the config loader has checked each entry)."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]
) -> str | None:
    """The address to count a request against: ``peer`` (the connection's), unless ``peer`` is
    a trusted proxy and ``X-Forwarded-For`` (each header line, in order) names who it serves.

    Read from the right: the last entry was added by the proxy we trust; entries that are
    themselves trusted proxies are hops of a proxy chain and skipped; the first other address
    is the client. An entry that is not an address ends the walk at the hop before it.
    """
    ip = _address(peer) if peer else None
    if ip is None or not _trusted(ip, proxies):
        return peer
    hops = [part for line in forwarded_for for part in line.split(",") if part.strip()]
    client = ip
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)

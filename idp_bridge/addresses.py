"""Client addresses as the rules judge them."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def unmapped(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2, how a dual-stack socket reports an IPv4 peer) as the IPv4
    address it carries; any other address as it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip

"""Where the bridge may POST (SPEC §14): never to loopback, private, link-local or otherwise internal
addresses unless ``IDP_BRIDGE_WEBHOOK_ALLOW_PRIVATE=1`` — a webhook URL is operator input, but a bridge that
can be pointed at ``http://169.254.169.254/`` or an internal admin port is a server-side request forgery tool.

Every address the name resolves to is checked (an attacker's DNS can return several), at registration and
again before each attempt (DNS answers change). Redirects are never followed, so a permitted host cannot
bounce the request inward.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from idp_bridge.addresses import unmapped


class TargetRefused(ValueError):
    """The URL is malformed or resolves to an address the bridge must not call."""


def check_url_shape(url: str) -> None:
    """Syntax only: http(s), a host, no credentials or fragment."""
    if not isinstance(url, str) or len(url) > 2000:
        raise TargetRefused("must be an http(s) URL of at most 2000 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an absolute http(s) URL")
    if parts.username or parts.password or parts.fragment:
        raise TargetRefused("must not contain credentials or a fragment")


def _internal(address: str) -> bool:
    ip = unmapped(ipaddress.ip_address(address.split("%", 1)[0]))
    return not ip.is_global or ip.is_multicast


def check_target(url: str, allow_private: bool) -> None:
    """Refuse ``url`` unless every address its host resolves to is public (or ``allow_private``)."""
    check_url_shape(url)
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(f"cannot resolve {host!r}") from None
    for info in infos:
        if _internal(str(info[4][0])):
            raise TargetRefused(f"{host!r} resolves to a loopback, private or link-local address "
                                "(set IDP_BRIDGE_WEBHOOK_ALLOW_PRIVATE=1 to allow)")

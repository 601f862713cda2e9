"""What the lane reads of an ASGI request and how it answers.

The request is werkzeug's own ``Request`` over the PEP 3333 environ the threaded path would build (Flask's
request class is a subclass of it), after werkzeug's ``ProxyFix`` when ``IDP_BRIDGE_TRUST_PROXY`` is set, as
``app.py`` wraps the Flask app: the query, form, cookies, ``Authorization`` header, URL and client address are
parsed by the same code on both paths. Answers carry the headers the Flask hooks add (``security``, no-store,
the request id).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Request

from idp_bridge.logging_setup import request_id_for
from idp_bridge.streaming.wsgi_bridge import environ_of

NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


@dataclass
class Incoming:
    """One request as the lane sees it, with the id its log lines and answer carry."""

    request: Request
    request_id: str


def _proxied(trust_proxy: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The environ as the app sees it behind ``trust_proxy`` proxies: werkzeug's ProxyFix itself, which rewrites
    the environ in place before calling its app."""
    if not trust_proxy:
        return lambda environ: environ

    def nothing(_environ: dict[str, Any], _start_response: Any) -> Iterable[bytes]:
        return ()

    fix = ProxyFix(nothing, x_for=trust_proxy, x_proto=trust_proxy, x_host=trust_proxy,
                   x_port=trust_proxy)

    def proxied(environ: dict[str, Any]) -> dict[str, Any]:
        fix(environ, lambda *_args: None)  # type: ignore[arg-type]
        return environ

    return proxied


def reader(trust_proxy: int) -> Callable[[MutableMapping[str, Any], bytes], Incoming]:
    """A function from an ASGI scope and its whole body to an :class:`Incoming`."""
    proxied = _proxied(trust_proxy)

    def read(scope: MutableMapping[str, Any], body: bytes) -> Incoming:
        environ = proxied(environ_of(scope, body))
        return Incoming(Request(environ), request_id_for(environ.get("HTTP_X_REQUEST_ID", "")))

    return read


@dataclass
class Answer:
    """A response: status, headers in order, body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    client: str | None = None  # the client address as the app saw it (after ProxyFix), for the access log

    def messages(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ASGI messages of this answer."""
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        headers.append((b"content-length", str(len(self.body)).encode()))
        return ({"type": "http.response.start", "status": self.status, "headers": headers},
                {"type": "http.response.body", "body": self.body, "more_body": False})


def json_body(payload: dict[str, Any]) -> bytes:
    """JSON as Flask's provider writes it (sorted keys, ASCII), which Authlib's Flask integration uses."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=True).encode()

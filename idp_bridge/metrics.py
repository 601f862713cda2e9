"""Prometheus metrics (SPEC §5 ``/metrics``): logins by outcome, WeChat API calls by errcode, QR codes
created, token endpoint latency, requests by endpoint. Works across gunicorn workers through
``PROMETHEUS_MULTIPROC_DIR`` (``idp-bridge serve`` sets it up).

``/metrics`` answers only clients inside ``IDP_BRIDGE_METRICS_ALLOW`` (SPEC §3); everyone else gets the same
404 as an unknown path, because the counters reveal login volumes, connection names and WeChat quota use.
The client address is ``request.remote_addr``, which ``ProxyFix`` rewrites only when
``IDP_BRIDGE_TRUST_PROXY`` says how many proxies to believe.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterable

from flask import Flask, Response, abort, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from idp_bridge import signals
from idp_bridge.addresses import unmapped
from idp_bridge.config import current_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOGIN_OUTCOMES = Counter("idpb_login_outcomes_total", "Logins by outcome", ["connection", "outcome"])
WECHAT_API_CALLS = Counter("idpb_wechat_api_calls_total", "WeChat API calls by endpoint and errcode",
                           ["endpoint", "errcode"])
QR_CREATED = Counter("idpb_qr_created_total", "Temporary QR codes created", ["connection"])
TOKEN_ENDPOINT_LATENCY = Histogram("idpb_token_endpoint_seconds", "Token endpoint latency",
                                   buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2))
HTTP_REQUESTS = Counter("idpb_http_requests_total", "HTTP requests", ["endpoint", "status"])
EVENT_LATENCY = Histogram("idpb_event_to_browser_seconds", "WeChat event accepted → status pushed to the page",
                          buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5))
QR_BUDGET_USED_RATIO = Gauge("idpb_qr_budget_used_ratio", "Share of today's QR budget used", ["connection"],
                             multiprocess_mode="max")


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY


def _qr_created(_sender: object, *, connection: str, used: int, budget: int) -> None:
    QR_CREATED.labels(connection).inc()
    QR_BUDGET_USED_RATIO.labels(connection).set(used / budget if budget else 0.0)


def _wechat_api_called(_sender: object, *, endpoint: str, errcode: int) -> None:
    WECHAT_API_CALLS.labels(endpoint, str(errcode)).inc()


def _login_decided(_sender: object, *, connection: str, outcome: str, **_: object) -> None:
    LOGIN_OUTCOMES.labels(connection, outcome).inc()


def _login_delivered(_sender: object, *, seconds: float) -> None:
    EVENT_LATENCY.observe(seconds)


def _subscribe() -> None:
    """Process-wide metrics observe process-wide signals; connecting twice is a no-op in blinker."""
    signals.qr_created.connect(_qr_created)
    signals.wechat_api_called.connect(_wechat_api_called)
    signals.login_decided.connect(_login_decided)
    signals.login_delivered.connect(_login_delivered)


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The allow-list as networks (host bits tolerated, as ``config._parse_networks`` does)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def address_allowed(address: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether ``address`` lies in one of ``networks``. An IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2, what a
    dual-stack socket reports for an IPv4 peer) is judged as the IPv4 address it carries; anything that is not
    a plain IP address (empty, a zone id, a unix socket peer) is refused."""
    if not address or "%" in address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    ip = unmapped(ip)
    return any(ip.version == net.version and ip in net for net in networks)


def count_request(endpoint: str, status: int, started: float | None) -> None:
    """One answered request (``started``: its ``perf_counter`` start, for the token endpoint's latency)."""
    HTTP_REQUESTS.labels(endpoint, str(status)).inc()
    if endpoint == "oidc.token" and started is not None:
        TOKEN_ENDPOINT_LATENCY.observe(time.perf_counter() - started)


def init_app(app: Flask) -> None:
    """Register ``/metrics`` and the hooks that feed the counters (no edits needed in other packages)."""
    _subscribe()

    @app.before_request
    def _start_timer() -> None:
        g.idpb_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        count_request(request.endpoint or "unknown", response.status_code, g.get("idpb_started"))
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        if not address_allowed(request.remote_addr, parse_networks(current_settings().metrics_allow)):
            abort(404)
        return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)

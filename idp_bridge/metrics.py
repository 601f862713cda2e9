"""Prometheus metrics (SPEC §5 ``/metrics``): logins by outcome, WeChat API calls by errcode, QR codes
created, token endpoint latency, requests by endpoint. Works across gunicorn workers through
``PROMETHEUS_MULTIPROC_DIR`` (``idp-bridge serve`` sets it up)."""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

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


def _qr_created(connection: str, used: int, budget: int) -> None:
    QR_CREATED.labels(connection).inc()
    QR_BUDGET_USED_RATIO.labels(connection).set(used / budget if budget else 0.0)


def init_app(app: Flask) -> None:
    """Register ``/metrics`` and the hooks that feed the counters (no edits needed in other packages)."""
    app.extensions["idp_bridge.wechat_on_call"] = (
        lambda endpoint, errcode: WECHAT_API_CALLS.labels(endpoint, str(errcode)).inc())
    app.extensions["idp_bridge.login_outcome"] = (
        lambda connection, outcome: LOGIN_OUTCOMES.labels(connection, outcome).inc())
    app.extensions["idp_bridge.qr_created"] = _qr_created
    app.extensions["idp_bridge.event_delivered"] = EVENT_LATENCY.observe

    @app.before_request
    def _start_timer() -> None:
        g.idpb_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.endpoint or "unknown"
        HTTP_REQUESTS.labels(endpoint, str(response.status_code)).inc()
        if endpoint == "oidc.token" and "idpb_started" in g:
            TOKEN_ENDPOINT_LATENCY.observe(time.perf_counter() - g.idpb_started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)

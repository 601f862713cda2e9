"""/metrics counts what happens; every response carries the security headers; secrets stay out of logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests


def test_metrics_exposes_counters(live_url: str) -> None:
    requests.get(f"{live_url}/healthz", timeout=5)
    requests.post(f"{live_url}/oauth/token", data={"grant_type": "authorization_code"}, timeout=5)
    body = requests.get(f"{live_url}/metrics", timeout=5).text
    assert "idpb_http_requests_total" in body and 'endpoint="health.healthz"' in body
    assert "idpb_token_endpoint_seconds_count" in body
    assert "idpb_event_to_browser_seconds" in body and "idpb_qr_budget_used_ratio" in body


@pytest.mark.parametrize("path", ["/healthz", "/.well-known/openid-configuration", "/no-such-page"])
def test_security_headers_everywhere(live_url: str, path: str) -> None:
    headers = requests.get(live_url + path, timeout=5).headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers  # http issuer (loopback): no HSTS


def test_secrets_never_logged_on_a_full_cli_and_callback_run(cli_run: Any, live_url: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    secret, aes, token = "0123456789abcdef0123456789abcdef", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF0", "Tok12345"
    caplog.set_level(logging.DEBUG)
    assert cli_run("connection", "create", "--identifier", "acme", "--display-name", "A", "--app-id",
                   "wx0123456789abcdef", "--app-secret", secret, "--token", token, "--encoding-aes-key", aes,
                   "--encryption", "safe").exit_code == 0
    client = cli_run("client", "create", "--name", "S", "--redirect-uri", "https://s.example/cb", "--json")
    requests.post(f"{live_url}/connections/social/acme/events?signature=0&timestamp=1&nonce=1", data=b"<xml/>",
                  timeout=5)
    text = caplog.text + client.output.split('"client_secret"')[0]
    for value in (secret, aes, token):
        assert value not in text

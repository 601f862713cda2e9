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


def test_metrics_answer_404_to_addresses_outside_the_allow_list(app_config: dict[str, Any]) -> None:
    """SPEC §3 ``IDP_BRIDGE_METRICS_ALLOW``: a client outside the allowed networks gets 404, as if /metrics
    did not exist (it reveals login volumes and connection names)."""
    from idp_bridge import create_app
    from tests.support.live import LiveServer

    live = LiveServer()
    app = create_app({**app_config, "issuer": live.url, "metrics_allow": ("10.0.0.0/8", "::1")})
    try:
        live.attach(app)
        live.start()
        refused = requests.get(f"{live.url}/metrics", timeout=5)
        assert refused.status_code == 404
        assert "idpb_" not in refused.text
        assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200
    finally:
        live.stop()
        with app.app_context():
            from idp_bridge.extensions import db

            db.engine.dispose()


def test_metrics_allow_list_matches_networks_and_ipv4_mapped_addresses() -> None:
    """The allow-list is a list of CIDRs (SPEC §3); an IPv4 client seen through a dual-stack socket
    (``::ffff:127.0.0.1``) is the IPv4 client."""
    from idp_bridge.metrics import address_allowed, parse_networks

    allowed = parse_networks(("127.0.0.0/8", "::1", "10.1.0.0/16"))
    for address in ("127.0.0.1", "127.9.9.9", "::1", "10.1.200.3", "::ffff:127.0.0.1", "::ffff:10.1.0.1"):
        assert address_allowed(address, allowed), address
    refused: list[str | None] = ["10.2.0.1", "192.168.1.1", "::2", "2001:db8::1", "", None, "not-an-ip", "::1%lo"]
    for other in refused:
        assert not address_allowed(other, allowed), other
    assert not address_allowed("127.0.0.1", parse_networks(()))


def test_metrics_allow_list_judges_the_forwarded_address_only_when_proxies_are_trusted(
        app_config: dict[str, Any]) -> None:
    """With ``IDP_BRIDGE_TRUST_PROXY=1`` the client is the address the proxy forwarded (ProxyFix); without it
    an ``X-Forwarded-For`` header is ignored, so nobody talks their way in."""
    from idp_bridge import create_app
    from idp_bridge.extensions import db
    from tests.support.live import LiveServer

    for trust_proxy, forwarded, expected in ((1, "10.1.2.3", 200), (1, "192.0.2.1", 404), (0, "10.1.2.3", 404)):
        live = LiveServer()
        app = create_app({**app_config, "issuer": live.url, "metrics_allow": ("10.0.0.0/8",),
                          "trust_proxy": trust_proxy})
        try:
            live.attach(app)
            live.start()
            answer = requests.get(f"{live.url}/metrics", headers={"X-Forwarded-For": forwarded}, timeout=5)
            assert answer.status_code == expected, (trust_proxy, forwarded)
        finally:
            live.stop()
            with app.app_context():
                db.engine.dispose()

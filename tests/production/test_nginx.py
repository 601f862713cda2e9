"""Two `idp-bridge serve` instances on one PostgreSQL (+ Redis) behind a real nginx with TLS, configured with
the shipped example `deploy/nginx/idp-bridge.conf`: a login whose page one instance serves and whose WeChat
event the other handles completes; the status stream works through nginx; X-Forwarded-* are honoured from the
proxy only in the way the proxy sets them (a client's own X-Forwarded-For does not become its address)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.simulator.state import SimAccount
from idp_bridge.simulator.views import create_simulator_app
from tests.conftest import throwaway_pg_database
from tests.login.conftest import Browser, client_params
from tests.production.conftest import AES, APP_ID, TOKEN, _db_app, _free_port, migrated_env, running_serve
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "idp-bridge.conf"
REDIRECT = "http://127.0.0.1:9/callback"


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def _nginx_conf(directory: Path, port: int, cert: Path, key: Path, instances: list[int]) -> Path:
    """The shipped example with this test's port, certificate and instances, inside a minimal main config."""
    site = EXAMPLE.read_text()
    site = re.sub(r"(upstream idp_bridge \{\n)(?:    server [^\n]+\n)+",
                  lambda m: m.group(1) + "".join(f"    server 127.0.0.1:{p};\n" for p in instances), site)
    site = (site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
            .replace("/etc/ssl/certs/login.example.com.pem", str(cert))
            .replace("/etc/ssl/private/login.example.com.key", str(key))
            # nginx reaches the instances from 127.0.0.2 while the client is 127.0.0.1: the address the app
            # records shows whose view of the client it took
            .replace("proxy_pass http://idp_bridge;", "proxy_pass http://idp_bridge;\n        proxy_bind 127.0.0.2;"))
    assert f"server 127.0.0.1:{instances[1]};" in site and str(cert) in site
    main = directory / "nginx.conf"
    main.write_text(f"""daemon off;
user root;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body; proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi; uwsgi_temp_path {directory}/uwsgi; scgi_temp_path {directory}/scgi;
{site}
}}
""")
    return main


@pytest.fixture
def behind_nginx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    cert, key = _certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the simulator (WeChat) and the test trust it
    port = _free_port()
    issuer = f"https://127.0.0.1:{port}"
    wechat = LiveServer()
    with throwaway_pg_database("idp_nginx") as url:
        env, first = migrated_env(url, tmp_path, wechat.url, issuer=issuer, trust_proxy="1",
                                  redis_url="redis://127.0.0.1:6379/0")
        second = _free_port()
        wechat.attach(create_simulator_app([SimAccount(
            app_id=APP_ID, app_secret="0123456789abcdef0123456789abcdef", token=TOKEN, encryption="safe",
            encoding_aes_key=AES, callback_url=f"{issuer}/connections/social/acme/events")]))
        wechat.start()
        logs = {p: (tmp_path / f"serve-{p}.log").open("wb") for p in (first, second)}
        proxy = subprocess.Popen([nginx, "-c", str(_nginx_conf(tmp_path, port, cert, key, [first, second])),
                                  "-p", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            with running_serve(env, first, "--workers", "1", "--threads", "8", output=(logs[first], logs[first])) \
                    as one, running_serve(env, second, "--workers", "1", "--threads", "8",
                                          output=(logs[second], logs[second])):
                connection = one.cli("connection", "create", "--identifier", "acme", "--display-name", "ACME",
                                     "--app-id", APP_ID, "--app-secret", "0123456789abcdef0123456789abcdef",
                                     "--token", TOKEN, "--encoding-aes-key", AES, "--encryption", "safe",
                                     "--scene-prefix", "acme_", "--json")
                assert connection.returncode == 0, connection.stderr
                client = one.cli("client", "create", "--name", "Shop", "--redirect-uri", REDIRECT, "--json")
                assert client.returncode == 0, client.stderr
                yield {"issuer": issuer, "client": client.stdout, "served": one, "wechat": wechat.url, "logs": {
                    p: tmp_path / f"serve-{p}.log" for p in (first, second)}}
        finally:
            proxy.terminate()
            proxy.wait(10)
            wechat.stop()
            for handle in logs.values():
                handle.close()


def _lines(path: Path) -> list[str]:
    return path.read_text("utf-8", "replace").splitlines()


def test_a_login_crosses_instances_through_nginx(behind_nginx: dict[str, Any]) -> None:
    import json

    issuer = behind_nginx["issuer"]
    created = json.loads(behind_nginx["client"])
    client_id, secret = created["client_id"], created["client_secret"]
    assert requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()["issuer"] == issuer
    app: Flask = _db_app(behind_nginx["served"])
    crossed = 0
    for attempt in range(8):  # nginx balances round-robin: page and event soon land on different instances
        before = {p: len(_lines(log)) for p, log in behind_nginx["logs"].items()}
        browser = Browser(issuer)
        browser.session.headers["X-Forwarded-For"] = "203.0.113.7"  # a client's own claim
        assert browser.start(client_id).status_code == 200, attempt
        listener = browser.listen()
        time.sleep(0.3)
        for _ in range(attempt):  # shift nginx's round-robin so the event lands elsewhere than the page
            requests.get(f"{issuer}/healthz", timeout=10)
        with app.app_context():
            ticket = db.session.get(LoginSession, browser.login_session).ticket  # type: ignore[union-attr]
            db.session.remove()
        phone = requests.post(f"{behind_nginx['wechat']}/api/scan", timeout=10,
                              json={"ticket": ticket, "user": f"Nia{attempt}", "action": "follow"})
        assert phone.json()["status"] == "delivered"
        listener.join(15)
        assert browser.events and browser.events[-1]["state"] == "succeeded"  # pushed through nginx
        done = browser.finish()
        params = client_params(done)
        assert done.headers["Location"].startswith(REDIRECT) and params["iss"] == issuer and params["code"]
        tokens = requests.post(f"{issuer}/oauth/token", timeout=10, auth=(client_id, secret), data={
            "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT,
            "code_verifier": browser.verifier})
        assert tokens.status_code == 200 and tokens.json()["id_token"], tokens.text
        new = {p: _lines(log)[before[p]:] for p, log in behind_nginx["logs"].items()}
        page = {p for p, lines in new.items() if any(f'"GET /login/{browser.pending_id}"' in x for x in lines)}
        event = {p for p, lines in new.items() if any('"POST /connections/social/acme/events"' in x for x in lines)}
        assert len(page) == 1 and len(event) == 1, new
        crossed += page != event
        if crossed:
            break
    assert crossed, "no login had its page and its event on different instances"
    with app.app_context():
        addresses = set(db.session.scalars(db.select(AuditEvent.ip).where(AuditEvent.action == "login.complete")))
        db.engine.dispose()
    # The client as nginx saw it (127.0.0.1): neither nginx's own address (127.0.0.2, what an untrusted proxy
    # would give) nor the client's own X-Forwarded-For claim (203.0.113.7).
    assert addresses == {"127.0.0.1"}

"""`client`, `user` and `keys` commands on both databases: --json, exit codes, nothing written on refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from flask import Flask

from idp_bridge.extensions import db
from idp_bridge.oidc.models import Client, SigningKey
from idp_bridge.secretbox import digest


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model)) or 0


def test_client_create_shows_secret_once_and_stores_digest(cli_run: Any, app: Flask) -> None:
    body = _json(cli_run("client", "create", "--name", "Shop", "--redirect-uri", "https://shop.example/cb",
                         "--web-origin", "https://shop.example/", "--json"))
    secret = body["client_secret"]
    assert len(secret) >= 43 and body["type"] == "confidential" and body["web_origins"] == ["https://shop.example"]
    shown = cli_run("client", "show", body["client_id"], "--json")
    assert secret not in shown.output and secret not in cli_run("client", "list", "--json").output
    with app.app_context():
        row = db.session.scalar(db.select(Client))
        assert row is not None and row.client_secret_digest == digest(secret)
    rotated = _json(cli_run("client", "rotate-secret", body["client_id"], "--json"))
    assert rotated["client_secret"] != secret


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--redirect-uri", "http://shop.example/cb"], "redirect_uri"),
        (["--redirect-uri", "https://shop.example/cb#frag"], "redirect_uri"),
        (["--redirect-uri", "/relative"], "redirect_uri"),
        (["--redirect-uri", "javascript:alert(1)"], "redirect_uri"),
        (["--redirect-uri", "https://shop.example/cb", "--web-origin", "https://shop.example/path"], "web_origin"),
        (["--redirect-uri", "https://shop.example/cb", "--connection", "nope"], "connection"),
        (["--redirect-uri", "https://shop.example/cb", "--post-logout-redirect-uri", "http://x.example/"],
         "post_logout_redirect_uri"),
    ],
)
def test_client_create_rules(cli_run: Any, app: Flask, args: list[str], field: str) -> None:
    result = cli_run("client", "create", "--name", "Shop", *args, "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.output)["field"] == field
    assert _count(app, Client) == 0


def test_loopback_http_and_public_clients(cli_run: Any) -> None:
    body = _json(cli_run("client", "create", "--name", "Dev", "--redirect-uri", "http://127.0.0.1:3000/cb",
                         "--public", "--json"))
    assert body["type"] == "public" and "client_secret" not in body
    assert cli_run("client", "rotate-secret", body["client_id"], "--json").exit_code == 2
    assert cli_run("client", "show", "missing").exit_code == 1
    assert _json(cli_run("client", "delete", body["client_id"], "--json")) == {"deleted": body["client_id"]}


def test_user_lifecycle(cli_run: Any, app: Flask) -> None:
    assert cli_run("connection", "create", "--identifier", "acme", "--display-name", "A", "--app-id",
                   "wx0123456789abcdef", "--app-secret", "0123456789abcdef0123456789abcdef", "--token", "tok123",
                   "--encryption", "plaintext").exit_code == 0
    user = _json(cli_run("user", "create", "--name", "Li Si", "--openid", "oABCDEF123", "--connection", "acme",
                         "--json"))
    assert user["identities"][0]["openid"] == "oABCDEF123"
    dup = cli_run("user", "create", "--openid", "oABCDEF123", "--connection", "acme", "--json")
    assert dup.exit_code == 2 and json.loads(dup.output)["field"] == "openid"
    assert _json(cli_run("user", "block", user["sub"], "--json"))["blocked"] is True
    assert _json(cli_run("user", "show", user["sub"], "--json"))["blocked"] is True
    assert _json(cli_run("user", "unblock", user["sub"], "--json"))["blocked"] is False
    invite = _json(cli_run("user", "invite", user["sub"], "--json"))
    assert len(invite["binding_code"]) == 8
    assert invite["binding_code"] not in cli_run("user", "show", user["sub"], "--json").output
    assert len(_json(cli_run("user", "list", "--json"))["users"]) == 1
    assert cli_run("user", "delete", user["sub"]).exit_code == 0
    assert cli_run("user", "show", user["sub"]).exit_code == 1


def test_keys_rotate_keeps_old_key_published(cli_run: Any, app: Flask, live_url: str) -> None:
    first = _json(cli_run("keys", "list", "--json"))["keys"]
    assert [k["state"] for k in first] == ["active"]
    new = _json(cli_run("keys", "rotate", "--json"))
    assert new["state"] == "active" and new["kid"] != first[0]["kid"]
    states = {k["kid"]: k["state"] for k in _json(cli_run("keys", "list", "--json"))["keys"]}
    assert states == {first[0]["kid"]: "published", new["kid"]: "active"}
    published = {k["kid"] for k in requests.get(f"{live_url}/oauth/jwks", timeout=5).json()["keys"]}
    assert {first[0]["kid"], new["kid"]} <= published
    with app.app_context():
        for row in db.session.scalars(db.select(SigningKey)):
            assert '"d"' not in row.private_jwk_sealed and "d" not in row.public_jwk


def test_audit_log_records_admin_actions_and_reads_back(cli_run: Any) -> None:
    client = _json(cli_run("client", "create", "--name", "Audited", "--redirect-uri", "https://a.example/cb",
                           "--json"))
    _json(cli_run("client", "rotate-secret", client["client_id"], "--json"))
    _json(cli_run("keys", "rotate", "--json"))
    events = _json(cli_run("audit", "--json"))["events"]
    actions = [e["action"] for e in events]
    assert actions[:3] == ["keys.rotate", "client.rotate_secret", "client.create"]
    assert client["client_secret"] not in json.dumps(events)
    only = _json(cli_run("audit", "--action", "client.create", "--since", "2020-01-01", "--json"))["events"]
    assert [e["target"] for e in only] == [client["client_id"]]
    bad = cli_run("audit", "--since", "yesterday", "--json")
    assert bad.exit_code == 2 and json.loads(bad.output)["field"] == "since"

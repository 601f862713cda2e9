"""OIDC Back-Channel Logout 1.0 (SPEC §14): logout tokens validated as a relying party would (signature from
the JWKS, iss, aud, events, sid, no nonce), sent through the outbox on block, delete, RP-initiated logout and
the revoke unfollow policy; discovery advertises it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from idp_bridge.accounts.models import User
from idp_bridge.events import backchannel
from idp_bridge.extensions import db
from idp_bridge.oidc.registration import create_client
from tests.events.receiver import Receiver
from tests.events.test_outbox import drain
from tests.login.conftest import REDIRECT, Browser, client_params

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "simulator": True}


def _app(app: Flask, receiver: Receiver, name: str) -> tuple[str, str]:
    with app.app_context():
        client, secret = create_client(name, [REDIRECT])
        backchannel.set_uri(client.client_id, f"{receiver.url}/{name}")
        return client.client_id, secret or ""


def _sign_in(base: str, browser: Browser, client: tuple[str, str], user: str | None) -> dict[str, Any]:
    """Sign in at ``client`` (by a scan, or by SSO when ``user`` is None) and redeem the code."""
    if user is None:  # same browser, SSO session: authorize answers at once
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        done = browser.session.get(f"{base}/oauth/authorize", allow_redirects=False, timeout=10, params={
            "response_type": "code", "client_id": client[0], "redirect_uri": REDIRECT, "scope": "openid",
            "state": "s", "code_challenge": create_s256_code_challenge(browser.verifier),
            "code_challenge_method": "S256"})
    else:
        browser.start(client[0], scope="openid offline_access")
        browser.scanned(user, "follow")
        done = browser.finish()
    code = client_params(done)["code"]
    response = requests.post(f"{base}/oauth/token", auth=client, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": browser.verifier})
    assert response.status_code == 200, response.text
    return dict(response.json())


def validate_logout_token(base: str, form: dict[str, str], client_id: str) -> dict[str, Any]:
    """What an RP does with a back-channel logout request (OIDC BCL 1.0 §2.6)."""
    keys = KeySet.import_key_set(requests.get(f"{base}/oauth/jwks", timeout=5).json())
    token = jwt.decode(form["logout_token"], keys)
    claims = dict(token.claims)
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": base}, aud={"essential": True, "value": client_id},
                          iat={"essential": True}, jti={"essential": True}).validate(claims)
    assert token.header.get("typ") == "logout+jwt"
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert claims.get("sub") and claims.get("sid")
    assert abs(claims["iat"] - time.time()) < 60
    return claims


def _id_claims(base: str, tokens: dict[str, Any]) -> dict[str, Any]:
    keys = KeySet.import_key_set(requests.get(f"{base}/oauth/jwks", timeout=5).json())
    return dict(jwt.decode(tokens["id_token"], keys).claims)


def test_discovery_advertises_back_channel_logout(live_url: str) -> None:
    doc = requests.get(f"{live_url}/.well-known/openid-configuration", timeout=5).json()
    assert doc["backchannel_logout_supported"] is True and doc["backchannel_logout_session_supported"] is True


def test_block_sends_a_valid_logout_token_to_both_clients(app: Flask, live_url: str, connection_id: int,
                                                          cli_run: Any, receiver: Receiver) -> None:
    shop, blog = _app(app, receiver, "shop"), _app(app, receiver, "blog")
    browser = Browser(live_url)
    at_shop = _sign_in(live_url, browser, shop, "Dana")
    at_blog = _sign_in(live_url, browser, blog, None)
    sub, sid = _id_claims(live_url, at_shop)["sub"], _id_claims(live_url, at_shop)["sid"]
    assert _id_claims(live_url, at_blog)["sid"] == sid
    assert cli_run("user", "block", sub).exit_code == 0
    with app.app_context():
        drain()
    got = {r.path: r.form for r in receiver.wait_for(2)}
    assert set(got) == {"/shop", "/blog"} and len(receiver.requests) == 2
    for path, (client_id, _secret) in (("/shop", shop), ("/blog", blog)):
        claims = validate_logout_token(live_url, got[path], client_id)
        assert claims["sub"] == sub and claims["sid"] == sid
    with pytest.raises(InvalidClaimError):  # and a logout token is not accepted for another client
        validate_logout_token(live_url, got["/shop"], blog[0])


def test_delete_and_rp_initiated_logout_send_logout_tokens(app: Flask, live_url: str, connection_id: int,
                                                           cli_run: Any, receiver: Receiver) -> None:
    shop = _app(app, receiver, "shop")
    browser = Browser(live_url)
    tokens = _sign_in(live_url, browser, shop, "Eve")
    out = browser.session.get(f"{live_url}/oauth/logout", params={"id_token_hint": tokens["id_token"]},
                              allow_redirects=False, timeout=10)
    assert out.status_code in (200, 302, 303)
    with app.app_context():
        drain()
    first = receiver.wait_for(1)[0]
    assert validate_logout_token(live_url, first.form, shop[0])["sid"] == _id_claims(live_url, tokens)["sid"]
    second = Browser(live_url)
    again = _sign_in(live_url, second, shop, "Eve")
    assert cli_run("user", "delete", _id_claims(live_url, again)["sub"]).exit_code == 0
    with app.app_context():
        drain()
    assert validate_logout_token(live_url, receiver.wait_for(2)[1].form, shop[0])["sub"] == \
        _id_claims(live_url, again)["sub"]


def test_unfollow_with_revoke_refuses_the_refresh_token_and_sends_a_logout_token(
        app: Flask, live_url: str, connection_id: int, receiver: Receiver, cli_run: Any) -> None:
    shown = cli_run("connection", "update", "acme", "--on-unsubscribe", "revoke", "--json")
    assert shown.exit_code == 0 and json.loads(shown.output)["on_unsubscribe"] == "revoke"
    shop = _app(app, receiver, "shop")
    browser = Browser(live_url)
    tokens = _sign_in(live_url, browser, shop, "Finn")
    assert "refresh_token" in tokens
    from tests.login.conftest import scan

    assert scan(live_url, browser.ticket, "Finn", "unfollow")["status"] == "delivered"
    refreshed = requests.post(f"{live_url}/oauth/token", auth=shop, timeout=10,
                              data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    with app.app_context():
        drain()
    claims = validate_logout_token(live_url, receiver.wait_for(1)[0].form, shop[0])
    assert claims["sid"] == _id_claims(live_url, tokens)["sid"]


def test_unfollow_with_block_blocks_the_user_and_sends_a_logout_token(
        app: Flask, live_url: str, connection_id: int, receiver: Receiver, cli_run: Any) -> None:
    assert cli_run("connection", "update", "acme", "--on-unsubscribe", "block").exit_code == 0
    shop = _app(app, receiver, "shop")
    browser = Browser(live_url)
    tokens = _sign_in(live_url, browser, shop, "Gus")
    from tests.login.conftest import scan

    assert scan(live_url, browser.ticket, "Gus", "unfollow")["status"] == "delivered"
    sub = _id_claims(live_url, tokens)["sub"]
    with app.app_context():
        assert db.session.scalar(db.select(User.blocked).where(User.sub == sub)) is True
        drain()
    assert validate_logout_token(live_url, receiver.wait_for(1)[0].form, shop[0])["sub"] == sub
    userinfo = requests.get(f"{live_url}/oauth/userinfo", timeout=5,
                            headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401


def test_unfollow_with_keep_changes_nothing(app: Flask, live_url: str, connection_id: int, receiver: Receiver,
                                            cli_run: Any) -> None:
    shown = json.loads(cli_run("connection", "show", "acme", "--json").output)
    assert shown["on_unsubscribe"] == "keep"
    shop = _app(app, receiver, "shop")
    browser = Browser(live_url)
    tokens = _sign_in(live_url, browser, shop, "Hal")
    assert scan_unfollow(live_url, browser.ticket, "Hal")
    refreshed = requests.post(f"{live_url}/oauth/token", auth=shop, timeout=10,
                              data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    with app.app_context():
        drain()
    assert receiver.requests == []


def scan_unfollow(base: str, ticket: str, user: str) -> bool:
    from tests.login.conftest import scan

    return scan(base, ticket, user, "unfollow")["status"] == "delivered"


def test_client_registration_of_the_back_channel_logout_uri(cli_run: Any) -> None:
    for bad in ("http://rp.example/bcl", "https://rp.example/bcl#frag", "https://u:p@rp.example/bcl", "bcl"):
        result = cli_run("client", "create", "--name", "RP", "--redirect-uri", "https://rp.example/cb",
                         "--backchannel-logout-uri", bad, "--json")
        assert result.exit_code == 2 and json.loads(result.output)["field"] == "backchannel_logout_uri", bad
    assert json.loads(cli_run("client", "list", "--json").output)["clients"] == []
    made = json.loads(cli_run("client", "create", "--name", "RP", "--redirect-uri", "https://rp.example/cb",
                              "--backchannel-logout-uri", "https://rp.example/bcl?x=1", "--json").output)
    assert made["backchannel_logout_uri"] == "https://rp.example/bcl?x=1"
    cleared = cli_run("client", "update", made["client_id"], "--backchannel-logout-uri", "", "--json")
    assert cleared.exit_code == 0 and json.loads(cleared.output)["backchannel_logout_uri"] is None


def test_sign_out_everywhere_sends_logout_tokens_once(app: Flask, live_url: str, connection_id: int,
                                                      receiver: Receiver) -> None:
    from idp_bridge.oidc.sso import revoke_everything_of

    shop = _app(app, receiver, "shop")
    tokens = _sign_in(live_url, Browser(live_url), shop, "Ivy")
    sub = _id_claims(live_url, tokens)["sub"]
    with app.app_context():
        user_id = db.session.scalar(db.select(User.id).where(User.sub == sub))
        for _ in range(2):  # what the console's "sign out everywhere" does; the second finds nothing live
            revoke_everything_of(None, user_id=user_id)
            db.session.commit()
        drain()
    assert validate_logout_token(live_url, receiver.wait_for(1)[0].form, shop[0])["sub"] == sub
    assert len(receiver.requests) == 1

"""One test per rule Authlib's defaults leave out and ``grants.py``/``server.py`` add, where the flow tests do
not already pin it: each fails if its override is removed."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from idp_bridge import create_app
from idp_bridge.extensions import db
from idp_bridge.oidc import keystore
from idp_bridge.oidc.models import AuthorizationCode, Token
from tests.conftest import TEST_SECRET_KEY
from tests.oidc.conftest import Rp, redeem


def test_same_nonce_twice_is_accepted_oidc_core_15_5_2(live_url: str, rp: Rp, login: Any) -> None:
    first = login(rp, extra={"nonce": "repeated-nonce"})
    second = login(rp, expect_login=False, extra={"nonce": "repeated-nonce"})
    assert "code" in first.params and "code" in second.params
    assert jwt.decode(redeem(rp, live_url, second)["id_token"], KeySet.import_key_set(
        requests.get(f"{live_url}/oauth/jwks", timeout=5).json())).claims["nonce"] == "repeated-nonce"


def test_signs_with_the_active_key_after_rotation_rfc7515_kid(app: Flask, live_url: str, rp: Rp, login: Any) -> None:
    with app.app_context():
        keystore.signing_key("RS256")
        new = keystore.rotate("RS256").kid
    tokens = redeem(rp, live_url, login(rp))
    assert jwt.decode(tokens["id_token"], KeySet.import_key_set(
        requests.get(f"{live_url}/oauth/jwks", timeout=5).json())).header["kid"] == new


def test_codes_and_tokens_are_stored_as_digests_rfc6819(app: Flask, live_url: str, rp: Rp, login: Any) -> None:
    done = login(rp)
    tokens = redeem(rp, live_url, done)
    with app.app_context():
        stored = [str(v) for row in db.session.scalars(db.select(Token)) for v in vars(row).values()]
        stored += [str(v) for row in db.session.scalars(db.select(AuthorizationCode)) for v in vars(row).values()]
    for secret in (tokens["access_token"], tokens["refresh_token"], done.params["code"]):
        assert all(secret not in value for value in stored)


@pytest.mark.parametrize("trust", [1, 0])
def test_proxy_headers_only_when_trusted_rfc7239(tmp_path: Any, _schema: str, trust: int) -> None:
    """Behind a TLS proxy the request arrives as http on a non-loopback host: Authlib refuses it
    (insecure_transport) unless X-Forwarded-Proto is trusted."""
    app = create_app({"database_url": _schema, "instance_dir": tmp_path, "secret_key": TEST_SECRET_KEY,
                      "issuer": "https://login.example.com", "trust_proxy": trust})
    response = app.test_client().get("/oauth/token", base_url="http://idp.internal",
                                     headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "login.example.com"})
    assert response.status_code == 405  # route exists; GET is not allowed: now the real check
    answer = app.test_client().post("/oauth/token", base_url="http://idp.internal", data={"grant_type": "x"},
                                    headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "login.example.com"})
    assert answer.status_code == 400
    assert answer.json["error"] == ("unsupported_grant_type" if trust else "insecure_transport")
    with app.app_context():
        db.engine.dispose()

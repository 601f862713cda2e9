"""Every bad request of RFC 6749 §4.1.2.1 / §5.2 and OIDC Core §3.1.2.6 gets its specified error; unsafe ones
never redirect; nothing answers 500."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.oidc.conftest import REDIRECT, Rp, query_of, redeem


def _authorize(live_url: str, rp: Rp, **overrides: str | None) -> requests.Response:
    verifier = "v" * 50
    params: dict[str, Any] = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT,
                              "scope": "openid", "state": "st8", "nonce": "n1",
                              "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return requests.get(f"{live_url}/oauth/authorize", params=params, allow_redirects=False, timeout=5)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_mode": "carrier_pigeon"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"request": "eyJ.x.y"}, "request_not_supported"),
        ({"request_uri": "https://x/r"}, "request_uri_not_supported"),
        ({"registration": "{}"}, "registration_not_supported"),
        ({"prompt": "none"}, "login_required"),
    ],
)
def test_redirectable_errors_carry_state_and_iss(live_url: str, rp: Rp, overrides: dict[str, str | None],
                                                 error: str) -> None:
    response = _authorize(live_url, rp, **overrides)
    assert response.status_code in (302, 303), response.text
    assert response.headers["Location"].startswith(REDIRECT)
    params = query_of(response)
    assert params["error"] == error and params["state"] == "st8" and params["iss"] == live_url


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "no-such-client"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/cb"},
        {"redirect_uri": REDIRECT + "/extra"},
        {"redirect_uri": REDIRECT + "?x=1"},
        {"redirect_uri": None},
        {"client_id": "x" * 5000},
    ],
)
def test_unsafe_errors_render_a_page_and_never_redirect(live_url: str, rp: Rp,
                                                        overrides: dict[str, str | None]) -> None:
    response = _authorize(live_url, rp, **overrides)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Traceback" not in response.text


def test_unknown_display_locales_acr_never_error(live_url: str, rp: Rp) -> None:
    response = _authorize(live_url, rp, display="tv", ui_locales="xx-YY", acr_values="urn:x", claims_locales="fr")
    assert response.status_code == 303 and "/login/" in response.headers["Location"]


def _token(live_url: str, rp: Rp, data: dict[str, str], auth: Any = "default") -> requests.Response:
    basic = (rp.client_id, rp.secret or "") if auth == "default" else auth
    return requests.post(f"{live_url}/oauth/token", data=data, auth=basic, timeout=5)


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT}, ("nobody", "x"), 401,
         "invalid_client"),
        ({"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT}, "wrong-secret", 401,
         "invalid_client"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "default", 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "default", 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "redirect_uri": REDIRECT}, "default", 400, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "bogus", "redirect_uri": REDIRECT}, "default", 400,
         "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "bogus"}, "default", 400, "invalid_grant"),
        ({}, "default", 400, "unsupported_grant_type"),
    ],
)
def test_token_endpoint_errors(live_url: str, rp: Rp, data: dict[str, str], auth: Any, status: int,
                               error: str) -> None:
    if auth == "wrong-secret":
        auth = (rp.client_id, "not-the-secret")
    response = _token(live_url, rp, data, auth)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def test_code_bound_to_redirect_uri_client_and_verifier(live_url: str, rp: Rp, make_rp: Any, login: Any) -> None:
    other = make_rp(name="Other")
    done = login(rp)
    stolen = _token(live_url, other, {"grant_type": "authorization_code", "code": done.params["code"],
                                      "redirect_uri": REDIRECT, "code_verifier": done.verifier})
    assert stolen.json()["error"] == "invalid_grant"
    done = login(rp, expect_login=False)  # the browser is signed in now: SSO answers
    wrong_uri = _token(live_url, rp, {"grant_type": "authorization_code", "code": done.params["code"],
                                      "redirect_uri": REDIRECT + "x", "code_verifier": done.verifier})
    assert wrong_uri.json()["error"] == "invalid_grant"
    done = login(rp, expect_login=False)
    wrong_verifier = _token(live_url, rp, {"grant_type": "authorization_code", "code": done.params["code"],
                                           "redirect_uri": REDIRECT, "code_verifier": secrets.token_urlsafe(50)})
    assert wrong_verifier.json()["error"] == "invalid_grant"


def test_verifier_without_challenge_is_refused(live_url: str, rp: Rp, login: Any) -> None:
    done = login(rp, extra={"code_challenge": "", "code_challenge_method": ""})
    response = _token(live_url, rp, {"grant_type": "authorization_code", "code": done.params["code"],
                                     "redirect_uri": REDIRECT, "code_verifier": "a" * 50})
    assert response.json()["error"] == "invalid_request"


def test_public_client_cannot_skip_verifier(live_url: str, public_rp: Rp, login: Any) -> None:
    done = login(public_rp)
    response = requests.post(f"{live_url}/oauth/token", timeout=5, data={
        "grant_type": "authorization_code", "code": done.params["code"], "redirect_uri": REDIRECT,
        "client_id": public_rp.client_id})
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("mode", ["fragment", "form_post", "web_message"])
def test_response_modes(live_url: str, rp: Rp, login: Any, mode: str) -> None:
    done = login(rp, extra={"response_mode": mode})
    if mode == "fragment":
        assert "#code=" in done.response.headers["Location"] and "iss=" in done.response.headers["Location"]
        return
    assert done.response.status_code == 200
    html = done.response.text
    if mode == "form_post":
        assert f'action="{REDIRECT}"' in html and 'name="code"' in html and 'name="iss"' in html
        assert "form-action http://127.0.0.1:9" in done.response.headers["Content-Security-Policy"]
    else:
        assert 'data-target-origin="http://127.0.0.1:9"' in html and "authorization_response" in html
        assert "<script>" not in html  # CSP: external script only


def test_web_message_needs_registered_origin(live_url: str, make_rp: Any, login: Any, app: Any) -> None:
    from idp_bridge.extensions import db
    from idp_bridge.oidc.models import Client

    rp = make_rp(name="NoOrigin")
    with app.app_context():
        row = db.session.scalar(db.select(Client).where(Client.client_id == rp.client_id))
        assert row is not None
        row.web_origins = []
        db.session.commit()
    response = _authorize(live_url, rp, response_mode="web_message")
    assert query_of(response)["error"] == "invalid_request"


def test_cors_for_registered_origins_only(live_url: str, rp: Rp, login: Any) -> None:
    tokens = redeem(rp, live_url, login(rp))
    pre = requests.options(f"{live_url}/oauth/token", headers={"Origin": "http://127.0.0.1:9",
                                                               "Access-Control-Request-Method": "POST"}, timeout=5)
    assert pre.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:9"
    evil = requests.get(f"{live_url}/oauth/userinfo", headers={"Origin": "https://evil.example",
                                                               "Authorization": f"Bearer {tokens['access_token']}"},
                        timeout=5)
    assert "Access-Control-Allow-Origin" not in evil.headers
    disc = requests.get(f"{live_url}/.well-known/openid-configuration", headers={"Origin": "https://any.example"},
                        timeout=5)
    assert disc.headers["Access-Control-Allow-Origin"] == "*"


def test_userinfo_rejects_bad_tokens(live_url: str) -> None:
    for header in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                   {"Authorization": "Bearer " + "x" * 5000}):
        response = requests.get(f"{live_url}/oauth/userinfo", headers=header, timeout=5)
        assert response.status_code == 401
        assert "WWW-Authenticate" in response.headers


def test_client_secret_guessing_is_locked_out(live_url: str, rp: Rp, login: Any) -> None:
    done = login(rp)
    for _ in range(10):
        wrong = _token(live_url, rp, {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT},
                       (rp.client_id, "guess"))
        assert wrong.status_code == 401
    locked = _token(live_url, rp, {"grant_type": "authorization_code", "code": done.params["code"],
                                   "redirect_uri": REDIRECT, "code_verifier": done.verifier})
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "60"
    assert locked.json()["error"] == "invalid_client"


@pytest.mark.parametrize("header", ["Basic", "Bearer", "Basic !!!notbase64", "Basic " + "QQ=="])
def test_malformed_client_authorization_is_401(live_url: str, header: str) -> None:
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        response = requests.post(live_url + path, headers={"Authorization": header}, data={"token": "x",
                                                                                           "grant_type": "x"},
                                 timeout=5)
        assert response.status_code in (400, 401), (path, response.status_code, response.text)

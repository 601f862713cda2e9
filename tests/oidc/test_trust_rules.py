"""SPEC §15 trust rules at the provider's endpoints, and the authorization endpoint's one error path
(RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6): hostile values never give a 500, never come back verbatim, and
``id_token_hint`` and introspection answer only whom they should. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp_bridge.oidc import keystore
from tests.oidc.conftest import REDIRECT, Rp, query_of, redeem
from tests.support import seam as seam_driver


def _params(rp: Rp, **overrides: str | None) -> dict[str, str]:
    verifier = "v" * 50
    params = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT, "scope": "openid",
              "state": "st8", "nonce": "n1", "code_challenge": create_s256_code_challenge(verifier),
              "code_challenge_method": "S256"}
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def _authorize(live_url: str, rp: Rp, browser: requests.Session | None = None,
               **overrides: str | None) -> requests.Response:
    agent = browser or requests.Session()
    return agent.get(f"{live_url}/oauth/authorize", params=_params(rp, **overrides), allow_redirects=False,
                     timeout=10)


def _sign_in(app: Flask, live_url: str, rp: Rp, user: int, connection_id: int) -> tuple[requests.Session, dict]:
    """A browser signed in at the bridge as ``user``, and the tokens ``rp`` got for that login."""
    browser = requests.Session()
    verifier = secrets.token_urlsafe(48)
    params = _params(rp, code_challenge=create_s256_code_challenge(verifier), scope="openid profile")
    first = browser.get(f"{live_url}/oauth/authorize", params=params, allow_redirects=False, timeout=10)
    assert first.status_code == 303, first.text
    done = seam_driver.complete(app, browser, live_url, seam_driver.pending_id_from(first), user, connection_id)
    code = query_of(done)["code"]
    token = requests.post(f"{live_url}/oauth/token", auth=(rp.client_id, rp.secret or ""), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    return browser, token.json()


def _assert_no_echo(response: requests.Response, *raw: str) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    for value in raw:
        assert value not in response.text
        assert value not in requests.utils.unquote(response.headers.get("Location", ""))


# --- RFC 6749 §4.1.2.1: errors built from hostile input --------------------------------------------------

@pytest.mark.parametrize("response_type", ['co"de', "code\x01", "code\r\nX-Injected: 1", "\x7fcode", "c\\ode"])
def test_hostile_response_type_is_an_error_not_a_500(live_url: str, rp: Rp, response_type: str) -> None:
    response = _authorize(live_url, rp, response_type=response_type)
    _assert_no_echo(response, response_type)
    if response.status_code in (302, 303):
        assert query_of(response)["error"] in ("unsupported_response_type", "invalid_request")
        assert query_of(response)["iss"] == live_url
    else:
        assert response.status_code == 400


@pytest.mark.parametrize("redirect_uri", ['https://evil.example/"x', "https://evil.example/\x01",
                                          REDIRECT + "\x00", "https://evil.example/\\", "https://é.example/"])
def test_hostile_unregistered_redirect_uri_is_a_page_not_a_500(live_url: str, rp: Rp, redirect_uri: str) -> None:
    response = _authorize(live_url, rp, redirect_uri=redirect_uri)
    assert response.status_code == 400 and "Location" not in response.headers
    _assert_no_echo(response, redirect_uri)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("max_age", ["²", "١٢", "9" * 5000, "-1", "1e3", " 5"])
def test_bad_max_age_with_a_session_is_invalid_request(app: Flask, live_url: str, rp: Rp, connection_id: int,
                                                       user_id: int, max_age: str) -> None:
    browser, _ = _sign_in(app, live_url, rp, user_id, connection_id)
    response = _authorize(live_url, rp, browser, max_age=max_age)
    assert response.status_code == 302, response.text
    assert query_of(response)["error"] == "invalid_request" and query_of(response)["state"] == "st8"
    _assert_no_echo(response, max_age)


def test_max_age_still_accepts_a_plain_integer_with_a_session(app: Flask, live_url: str, rp: Rp,
                                                               connection_id: int, user_id: int) -> None:
    browser, _ = _sign_in(app, live_url, rp, user_id, connection_id)
    assert "code" in query_of(_authorize(live_url, rp, browser, max_age="3600"))


def test_unsupported_response_type_is_described(live_url: str, rp: Rp) -> None:
    params = query_of(_authorize(live_url, rp, response_type="token"))
    assert params["error"] == "unsupported_response_type"
    assert params["error_description"] == "Only 'response_type=code' is supported."


def test_error_descriptions_never_echo_parameters(live_url: str, rp: Rp) -> None:
    marker = "ECHO-ME-42"
    for overrides in ({"response_type": marker}, {"response_mode": marker}, {"max_age": marker},
                      {"code_challenge_method": marker}, {"prompt": "none " + marker}):
        response = _authorize(live_url, rp, **overrides)
        _assert_no_echo(response, marker)
        assert "error" in query_of(response)


def test_repeated_parameters_are_refused(live_url: str, rp: Rp) -> None:
    params = list(_params(rp).items()) + [("redirect_uri", "https://evil.example/cb")]
    response = requests.get(f"{live_url}/oauth/authorize", params=params, allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "Location" not in response.headers


# --- Cache-Control on every provider answer (RFC 6749 §5.1, RFC 9700 §4.16) -----------------------------

def test_provider_answers_are_not_cached(live_url: str, rp: Rp) -> None:
    page = _authorize(live_url, rp, client_id="nope")
    redirect = _authorize(live_url, rp, prompt="none")
    login = _authorize(live_url, rp)
    userinfo = requests.get(f"{live_url}/oauth/userinfo", timeout=5)
    logout = requests.get(f"{live_url}/oauth/logout", timeout=5)
    for response in (page, redirect, login, userinfo, logout):
        assert response.headers.get("Cache-Control") == "no-store", (response.url, response.status_code)
    discovery = requests.get(f"{live_url}/.well-known/openid-configuration", timeout=5)
    assert discovery.headers["Cache-Control"] == "public, max-age=300"


# --- SPEC §15 id_token_hint (OIDC Core §3.1.2.1) ---------------------------------------------------------

@pytest.fixture
def two_users(app: Flask, live_url: str, rp: Rp, connection_id: int, user_id: int) -> dict[str, Any]:
    """A's tokens (A signed in elsewhere) and a browser signed in as B."""
    other = seam_driver.make_user(app, openid="oOPENID2", unionid="uUNION2", connection_id=connection_id, name="B")
    _, tokens_a = _sign_in(app, live_url, rp, user_id, connection_id)
    browser_b, tokens_b = _sign_in(app, live_url, rp, other, connection_id)
    return {"a": tokens_a, "b": tokens_b, "browser_b": browser_b}


def test_hint_for_another_user_with_prompt_none_is_login_required(live_url: str, rp: Rp,
                                                                  two_users: dict[str, Any]) -> None:
    response = _authorize(live_url, rp, two_users["browser_b"], prompt="none",
                          id_token_hint=two_users["a"]["id_token"])
    assert response.status_code == 302
    params = query_of(response)
    assert "code" not in params and params["error"] == "login_required" and params["iss"] == live_url


def test_hint_for_another_user_asks_for_a_fresh_login(live_url: str, rp: Rp, two_users: dict[str, Any]) -> None:
    response = _authorize(live_url, rp, two_users["browser_b"], id_token_hint=two_users["a"]["id_token"])
    assert response.status_code == 303 and "/login/" in response.headers["Location"]


def test_hint_for_the_signed_in_user_answers_silently(live_url: str, rp: Rp, two_users: dict[str, Any]) -> None:
    response = _authorize(live_url, rp, two_users["browser_b"], prompt="none",
                          id_token_hint=two_users["b"]["id_token"])
    assert "code" in query_of(response)


def test_fresh_login_as_someone_else_than_the_hint_is_login_required(app: Flask, live_url: str, rp: Rp,
                                                                     connection_id: int,
                                                                     two_users: dict[str, Any]) -> None:
    browser = requests.Session()
    first = _authorize(live_url, rp, browser, id_token_hint=two_users["a"]["id_token"])
    assert first.status_code == 303
    other = seam_driver.make_user(app, openid="oOPENID3", connection_id=connection_id, name="C")
    done = seam_driver.complete(app, browser, live_url, seam_driver.pending_id_from(first), other, connection_id)
    assert query_of(done)["error"] == "login_required" and "code" not in query_of(done)


def _forged(app: Flask, claims: dict[str, Any], key: Any = None) -> str:
    with app.app_context():
        signing = key or keystore.signing_key("RS256")
        return jwt.encode({"alg": "RS256", "kid": signing.kid or "x"}, claims, signing)


def test_expired_hint_signed_by_us_is_accepted(app: Flask, live_url: str, rp: Rp,
                                               two_users: dict[str, Any]) -> None:
    claims = dict(jwt.decode(two_users["b"]["id_token"], keystore_public(app)).claims)
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    response = _authorize(live_url, rp, two_users["browser_b"], prompt="none", id_token_hint=_forged(app, claims))
    assert "code" in query_of(response), response.headers.get("Location")


def keystore_public(app: Flask) -> Any:
    with app.app_context():
        return keystore.public_keyset()


@pytest.mark.parametrize("case", ["garbage", "other_key", "other_issuer", "other_audience", "no_sub", "huge"])
def test_bad_hint_is_invalid_request(app: Flask, live_url: str, rp: Rp, two_users: dict[str, Any],
                                     case: str) -> None:
    claims = dict(jwt.decode(two_users["b"]["id_token"], keystore_public(app)).claims)
    if case == "garbage":
        hint = "garbage"
    elif case == "other_key":
        hint = _forged(app, claims, RSAKey.generate_key(2048, parameters={"kid": "evil"}, private=True))
    elif case == "other_issuer":
        hint = _forged(app, {**claims, "iss": "https://evil.example"})
    elif case == "other_audience":
        hint = _forged(app, {**claims, "aud": ["someone-else"]})
    elif case == "no_sub":
        hint = _forged(app, {k: v for k, v in claims.items() if k != "sub"})
    else:
        hint = "a." * 3_000  # longer than any ID token of ours, shorter than the app-wide input bound
    for prompt in ("none", None):
        response = _authorize(live_url, rp, two_users["browser_b"], prompt=prompt, id_token_hint=hint)
        assert response.status_code == 302, response.text
        assert query_of(response)["error"] == "invalid_request" and "code" not in query_of(response)


def test_bad_hint_without_a_session_is_invalid_request(live_url: str, rp: Rp) -> None:
    response = _authorize(live_url, rp, id_token_hint="garbage")
    assert query_of(response)["error"] == "invalid_request"


# --- SPEC §15 introspection (RFC 7662 §2.2) --------------------------------------------------------------

def _introspect(live_url: str, caller: Rp, token: str) -> dict[str, Any]:
    response = requests.post(f"{live_url}/oauth/introspect", auth=(caller.client_id, caller.secret or ""),
                             data={"token": token}, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return dict(response.json())


def test_introspection_only_for_the_own_client_or_a_resource_server(live_url: str, rp: Rp, make_rp: Any,
                                                                    login: Any) -> None:
    tokens = redeem(rp, live_url, login(rp))
    stranger = make_rp(name="Stranger", third_party=True)
    first_party = make_rp(name="Sibling")
    api = make_rp(name="API", resource_server=True)
    for kind in ("access_token", "refresh_token"):
        assert _introspect(live_url, stranger, tokens[kind]) == {"active": False}
        assert _introspect(live_url, first_party, tokens[kind]) == {"active": False}
        assert _introspect(live_url, rp, tokens[kind])["active"] is True
        answer = _introspect(live_url, api, tokens[kind])
        assert answer["active"] is True and answer["client_id"] == rp.client_id


def test_cli_resource_server_flag(cli_run: Any) -> None:
    import json

    created = json.loads(cli_run("client", "create", "--name", "API", "--redirect-uri", "https://api.example/cb",
                                 "--resource-server", "--json").output)
    assert created["resource_server"] is True
    plain = json.loads(cli_run("client", "create", "--name", "Web", "--redirect-uri", "https://w.example/cb",
                               "--json").output)
    assert plain["resource_server"] is False
    updated = json.loads(cli_run("client", "update", created["client_id"], "--no-resource-server", "--json").output)
    assert updated["resource_server"] is False
    shown = cli_run("client", "show", plain["client_id"])
    assert "resource_server" in shown.output


# --- NUL bytes reach no database query (PostgreSQL refuses them with DataError) -------------------------
# Over HTTP the app-wide input gate may answer first (400); the lookups below are also safe on their own.

@pytest.mark.parametrize("value", ["a\x00b", "a\x00", "\x00", "a\x01b", "a\ud800b", "é" * 3])
def test_lookups_refuse_values_that_cannot_be_our_ids(app: Flask, rp: Rp, value: str) -> None:
    from idp_bridge.oidc import registration, seam
    from idp_bridge.oidc.server import query_client

    with app.test_request_context("/oauth/authorize", headers={"Cookie": f"{seam.BROWSER_COOKIE}=x"}):
        assert query_client(value) is None
        assert registration.get_client(value) is None
        assert seam.get_pending(value) is None
        assert query_client(rp.client_id) is not None  # the lookups still work for real ids


def test_rate_limit_key_never_carries_nul(app: Flask) -> None:
    from idp_bridge.oidc.views import _claimed_client_id

    with app.test_request_context("/oauth/token", method="POST", data={"client_id": "a\x00b"}):
        assert _claimed_client_id() == ""


def test_nul_in_client_id_at_authorize_is_a_page(live_url: str, rp: Rp) -> None:
    response = requests.get(f"{live_url}/oauth/authorize", params={"client_id": "a\x00b", "response_type": "code"},
                            allow_redirects=False, timeout=5)
    assert response.status_code == 400 and "Traceback" not in response.text


def test_nul_in_other_authorize_parameters_writes_nothing(live_url: str, rp: Rp) -> None:
    for name in ("nonce", "state", "ui_locales", "login_hint", "scope"):
        response = _authorize(live_url, rp, **{name: "a\x00b"})
        assert response.status_code in (302, 400), (name, response.status_code, response.text)
        assert "/login/" not in response.headers.get("Location", "")


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_nul_in_basic_username_is_invalid_client(live_url: str, path: str) -> None:
    response = requests.post(live_url + path, auth=("a\x00", "x"), timeout=5,
                             data={"grant_type": "authorization_code", "code": "x", "token": "x"})
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_client", "invalid_request")
    posted = requests.post(live_url + path, timeout=5, data={"grant_type": "authorization_code", "code": "x",
                                                             "token": "x", "client_id": "a\x00"})
    assert posted.status_code in (400, 401), posted.text


def test_nul_in_logout_client_id_is_an_unknown_client(live_url: str) -> None:
    response = requests.get(f"{live_url}/oauth/logout", params={"client_id": "a\x00"}, timeout=5)
    assert response.status_code in (200, 400) and "Traceback" not in response.text  # an unknown client


def test_nul_in_consent_pending_id_is_refused(live_url: str, rp: Rp, make_rp: Any, login: Any,
                                              browser: requests.Session) -> None:
    partner = make_rp(name="Partner", third_party=True)
    page = login(partner).response.text
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = browser.post(f"{live_url}/oauth/consent", data={"csrf_token": csrf, "pending_id": "a\x00b",
                                                              "decision": "allow"}, allow_redirects=False, timeout=5)
    assert response.status_code == 400 and "Traceback" not in response.text


# --- SPEC §15: nothing that reaches a log line can start a new line -------------------------------------

def test_error_log_lines_escape_control_characters() -> None:
    from idp_bridge.errors import _loggable

    forged = "/login/x\r\n127.0.0.1 - - [01/Jan/2026] \"GET /admin\" 200\x00\x1b[31m\x7f"
    escaped = _loggable(forged)
    assert not any(ch < " " or ch == "\x7f" for ch in escaped)
    assert escaped.startswith("/login/x\\r\\n127.0.0.1") and _loggable("/oauth/é ok") == "/oauth/é ok"

"""Full code + PKCE flows against a real running server, driven by Authlib's client (RFC 6749 §4.1,
RFC 7636, OIDC Core §3.1)."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from idp_bridge.extensions import db
from idp_bridge.oidc.models import AuthorizationCode
from tests.oidc.conftest import ORIGIN, Login, Rp, redeem, rp_session


def _jwks(live_url: str) -> KeySet:
    return KeySet.import_key_set(requests.get(f"{live_url}/oauth/jwks", timeout=5).json())


def _half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def verify_id_token(live_url: str, id_token: str, rp: Rp, nonce: str | None, access_token: str) -> dict[str, Any]:
    token = jwt.decode(id_token, _jwks(live_url), algorithms=["RS256", "ES256"])
    claims = dict(token.claims)
    assert token.header["kid"] and token.header["alg"] in ("RS256", "ES256")
    assert claims["iss"] == live_url and claims["aud"] == rp.client_id
    assert claims["exp"] > time.time() > claims["iat"] - 5
    if nonce is not None:
        assert claims["nonce"] == nonce
    assert claims["at_hash"] == _half_hash(access_token)
    assert claims["sid"] and claims["auth_time"] <= time.time()
    return claims


def test_discovery_advertises_spec_values(live_url: str) -> None:
    doc = requests.get(f"{live_url}/.well-known/openid-configuration", timeout=5).json()
    assert doc["issuer"] == live_url
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                "introspection_endpoint", "end_session_endpoint"):
        assert doc[key].startswith(live_url)
    assert doc["response_types_supported"] == ["code"]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post", "web_message"]
    assert doc["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "profile", "offline_access"} <= set(doc["scopes_supported"])
    assert {"openid", "unionid"} <= set(doc["claims_supported"])


def test_confidential_code_flow_id_token_and_userinfo(live_url: str, rp: Rp, login: Any) -> None:
    done: Login = login(rp)
    assert done.params["state"] == done.state and done.params["iss"] == live_url
    tokens = redeem(rp, live_url, done)
    claims = verify_id_token(live_url, tokens["id_token"], rp, done.nonce, tokens["access_token"])
    assert claims["openid"] == "oOPENID1" and claims["unionid"] == "uUNION1" and claims["name"] == "Zhang San"
    assert claims["sub"] not in ("oOPENID1", "uUNION1")
    info = requests.get(f"{live_url}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                        timeout=5)
    assert info.status_code == 200
    assert info.json() == {"sub": claims["sub"], "openid": "oOPENID1", "unionid": "uUNION1", "name": "Zhang San"}
    posted = requests.post(f"{live_url}/oauth/userinfo",
                           headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5)
    assert posted.json() == info.json()
    assert "refresh_token" in tokens


def test_public_client_flow_and_pkce_rules(live_url: str, public_rp: Rp, login: Any, browser: requests.Session) -> None:
    done = login(public_rp)
    tokens = redeem(public_rp, live_url, done)
    verify_id_token(live_url, tokens["id_token"], public_rp, done.nonce, tokens["access_token"])
    base = {"response_type": "code", "client_id": public_rp.client_id, "redirect_uri": public_rp.redirect_uri,
            "scope": "openid", "state": "s1"}
    no_pkce = browser.get(f"{live_url}/oauth/authorize", params=base, allow_redirects=False, timeout=5)
    assert "error=invalid_request" in no_pkce.headers["Location"] and "iss=" in no_pkce.headers["Location"]
    plain = browser.get(f"{live_url}/oauth/authorize", params={**base, "code_challenge": "a" * 43,
                                                               "code_challenge_method": "plain"},
                        allow_redirects=False, timeout=5)
    assert "error=invalid_request" in plain.headers["Location"]


def test_refresh_rotation_keeps_auth_time_and_reuse_revokes_family(live_url: str, rp: Rp, login: Any) -> None:
    done = login(rp)
    first = redeem(rp, live_url, done)
    first_claims = verify_id_token(live_url, first["id_token"], rp, done.nonce, first["access_token"])
    time.sleep(1.1)
    session = rp_session(rp, live_url)
    second = dict(session.refresh_token(f"{live_url}/oauth/token", refresh_token=first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    second_claims = verify_id_token(live_url, second["id_token"], rp, None, second["access_token"])
    assert second_claims["auth_time"] == first_claims["auth_time"]
    assert second_claims["sub"] == first_claims["sub"] and second_claims["sid"] == first_claims["sid"]
    assert "nonce" not in second_claims
    with pytest.raises(OAuthError) as reuse:
        session.refresh_token(f"{live_url}/oauth/token", refresh_token=first["refresh_token"])
    assert reuse.value.error == "invalid_grant"
    with pytest.raises(OAuthError):
        session.refresh_token(f"{live_url}/oauth/token", refresh_token=second["refresh_token"])
    info = requests.get(f"{live_url}/oauth/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"},
                        timeout=5)
    assert info.status_code == 401


def test_code_replay_is_refused_and_revokes_issued_tokens(live_url: str, rp: Rp, login: Any) -> None:
    done = login(rp)
    tokens = redeem(rp, live_url, done)
    with pytest.raises(OAuthError) as replay:
        redeem(rp, live_url, done)
    assert replay.value.error == "invalid_grant"
    info = requests.get(f"{live_url}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                        timeout=5)
    assert info.status_code == 401


def _started(live_url: str, rp: Rp, browser: requests.Session, state: str) -> tuple[str, str]:
    """An authorization request sent to the login page: its pending id and its resume link's query."""
    from idp_bridge.oidc import seam
    from tests.support import seam as seam_driver

    params = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": rp.redirect_uri,
              "scope": "openid", "state": state, "nonce": "nn",
              "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
    start = browser.get(f"{live_url}/oauth/authorize", params=params, allow_redirects=False, timeout=10)
    pending = seam_driver.pending_id_from(start)
    return pending, urlencode({**params, seam.RESUME_PARAM: pending})


def test_the_resume_link_after_a_login_answers_once(app: Flask, live_url: str, rp: Rp, browser: requests.Session,
                                                   connection_id: int, user_id: int) -> None:
    """The authorization resumed after a login (the seam's resume link, as the consent page also follows it)
    consumes its pending authorization in the same transaction as the code: a second visit of the same link
    gets no second code."""
    from tests.support import seam as seam_driver

    pending, resume = _started(live_url, rp, browser, "st")
    first = seam_driver.complete(app, browser, live_url, pending, user_id, connection_id)  # visits the link
    assert "code=" in first.headers["Location"]
    with app.app_context():
        codes = db.session.scalar(db.select(db.func.count()).select_from(AuthorizationCode))
    for cookie in [c for c in browser.cookies if c.name == "idpb_sso"]:  # the SSO session would rightly answer
        browser.cookies.clear(cookie.domain, cookie.path, cookie.name)   # with a new code: only the link here
    again = browser.get(f"{live_url}/oauth/authorize?{resume}", allow_redirects=False, timeout=10)
    assert "code=" not in again.headers.get("Location", ""), again.headers
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AuthorizationCode)) == codes


def test_a_completed_login_answers_with_the_resumed_authorization(app: Flask, live_url: str, rp: Rp,
                                                                   browser: requests.Session, connection_id: int,
                                                                   user_id: int) -> None:
    """Completing a login answers, in that same request, what the authorization endpoint answers to the
    resumed request: the redirect to the client with a code, the SSO cookie beside it. The resumed pending
    authorization is spent: its resume link gives no second code."""
    from idp_bridge.oidc import seam

    pending, resume = _started(live_url, rp, browser, "st2")
    with app.test_request_context(f"/login/{pending}", base_url=live_url,
                                  headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.cookies)}):
        answer = seam.complete_login(pending, user_id, connection_id=connection_id)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == rp.redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["st2"] and query["code"] and query["iss"] == [live_url]
    assert answer.headers["Cache-Control"] == "no-store"
    assert any(c.startswith("idpb_sso=") for c in answer.headers.getlist("Set-Cookie"))
    again = browser.get(f"{live_url}/oauth/authorize?{resume}", allow_redirects=False, timeout=10)
    assert "code=" not in again.headers.get("Location", ""), again.headers


def test_two_concurrent_redemptions_yield_at_most_one_token(live_url: str, rp: Rp, login: Any) -> None:
    done = login(rp)
    results: list[int] = []
    tokens: list[str] = []

    def redeem_once() -> None:
        response = requests.post(f"{live_url}/oauth/token", auth=(rp.client_id, rp.secret or ""), timeout=10, data={
            "grant_type": "authorization_code", "code": done.params["code"], "redirect_uri": rp.redirect_uri,
            "code_verifier": done.verifier})
        results.append(response.status_code)
        if response.status_code == 200:
            tokens.append(response.json()["access_token"])

    threads = [threading.Thread(target=redeem_once) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) <= 1 and len(results) == 4
    for token in tokens:  # the replays revoked whatever the winner got
        assert requests.get(f"{live_url}/oauth/userinfo", headers={"Authorization": f"Bearer {token}"},
                            timeout=5).status_code == 401


def test_expired_code_is_invalid_grant(app: Flask, live_url: str, rp: Rp, login: Any) -> None:
    done = login(rp)
    with app.app_context():
        db.session.execute(db.update(AuthorizationCode).values(expires_at=AuthorizationCode.issued_at))
        db.session.commit()
    with pytest.raises(OAuthError) as err:
        redeem(rp, live_url, done)
    assert err.value.error == "invalid_grant"


def test_a_code_of_a_user_blocked_since_is_spent_without_tokens(app: Flask, live_url: str, rp: Rp, login: Any,
                                                               user_id: int) -> None:
    """The consuming statement reads the user too (one statement on PostgreSQL): a user blocked after the code
    was issued gets no tokens, the code is spent all the same, and its second use is refused too."""
    from idp_bridge.accounts.models import User

    done = login(rp)
    with app.app_context():
        db.session.execute(db.update(User).where(User.id == user_id).values(blocked=True))
        db.session.commit()
    for _attempt in ("first", "again"):
        with pytest.raises(OAuthError) as err:
            redeem(rp, live_url, done)
        assert err.value.error == "invalid_grant"
    with app.app_context():
        assert db.session.scalar(db.select(AuthorizationCode.used_at)) is not None


def test_the_id_token_names_the_identity_of_the_login(live_url: str, rp: Rp, login: Any) -> None:
    """The user read with the consumed code carries its identities: the ID token's openid is the one of the
    connection the login came through (SPEC §6)."""
    done = login(rp)
    tokens = redeem(rp, live_url, done)
    claims = jwt.decode(tokens["id_token"], _jwks(live_url), algorithms=["RS256"]).claims
    info = requests.get(f"{live_url}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                        timeout=5).json()
    assert claims["openid"] and claims["openid"] == info["openid"] and claims["sub"] == info["sub"]


def test_revocation_and_introspection(live_url: str, rp: Rp, public_rp: Rp, login: Any) -> None:
    tokens = redeem(rp, live_url, login(rp))
    auth = (rp.client_id, rp.secret or "")
    active = requests.post(f"{live_url}/oauth/introspect", auth=auth, data={"token": tokens["access_token"]}, timeout=5)
    body = active.json()
    assert body["active"] is True and body["client_id"] == rp.client_id and body["iss"] == live_url
    refresh_info = requests.post(f"{live_url}/oauth/introspect", auth=auth, timeout=5,
                                 data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}).json()
    assert refresh_info["active"] is True and refresh_info["token_type"] == "refresh_token"
    denied = requests.post(f"{live_url}/oauth/introspect", data={"token": tokens["access_token"],
                                                                 "client_id": public_rp.client_id}, timeout=5)
    assert denied.status_code == 401
    assert requests.post(f"{live_url}/oauth/revoke", auth=auth, data={"token": tokens["refresh_token"]},
                         timeout=5).status_code == 200
    after = requests.post(f"{live_url}/oauth/introspect", auth=auth, data={"token": tokens["access_token"]}, timeout=5)
    assert after.json() == {"active": False}
    unknown = requests.post(f"{live_url}/oauth/revoke", auth=auth, data={"token": "nope"}, timeout=5)
    assert unknown.status_code == 200  # RFC 7009 §2.2


def test_sso_answers_at_once_and_prompt_max_age_rules(live_url: str, rp: Rp, login: Any,
                                                      browser: requests.Session) -> None:
    first = login(rp)
    assert "code" in first.params
    again = login(rp, expect_login=False)
    assert again.response.status_code == 302 and "code" in again.params
    silent = login(rp, expect_login=False, extra={"prompt": "none"})
    assert "code" in silent.params
    forced = login(rp, expect_login=False, extra={"prompt": "login"})
    assert forced.response.status_code == 303 and "/login/" in forced.response.headers["Location"]
    time.sleep(1.1)
    aged = login(rp, expect_login=False, extra={"max_age": "0"})
    assert "/login/" in aged.response.headers["Location"]
    aged_silent = login(rp, expect_login=False, extra={"max_age": "0", "prompt": "none"})
    assert aged_silent.params["error"] == "login_required"
    fresh = login(rp, extra={"max_age": "0", "prompt": "login"})
    tokens = redeem(rp, live_url, fresh)
    claims = verify_id_token(live_url, tokens["id_token"], rp, fresh.nonce, tokens["access_token"])
    assert time.time() - claims["auth_time"] < 5


def test_prompt_none_without_session_is_login_required(live_url: str, rp: Rp, login: Any) -> None:
    done = login(rp, expect_login=False, extra={"prompt": "none"})
    assert done.params["error"] == "login_required" and done.params["state"] == done.state
    assert done.params["iss"] == live_url


def test_logout_with_hint_redirects_and_ends_sso(live_url: str, rp: Rp, login: Any, browser: requests.Session) -> None:
    tokens = redeem(rp, live_url, login(rp))
    out = browser.get(f"{live_url}/oauth/logout", params={"id_token_hint": tokens["id_token"], "state": "bye1",
                                                          "post_logout_redirect_uri": ORIGIN + "/bye"},
                      allow_redirects=False, timeout=5)
    assert out.status_code == 302 and out.headers["Location"] == ORIGIN + "/bye?state=bye1"
    after = login(rp, expect_login=False, extra={"prompt": "none"})
    assert after.params["error"] == "login_required"


def test_logout_without_hint_asks_and_unregistered_uri_is_not_followed(live_url: str, rp: Rp, login: Any,
                                                                       browser: requests.Session) -> None:
    login(rp)
    page = browser.get(f"{live_url}/oauth/logout", params={"client_id": rp.client_id,
                                                           "post_logout_redirect_uri": "https://evil.example/x"},
                       timeout=5)
    assert page.status_code == 200 and "logout-confirm" in page.text
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = browser.post(f"{live_url}/oauth/logout", data={"csrf_token": token, "confirm": "yes",
                                                          "client_id": rp.client_id,
                                                          "post_logout_redirect_uri": "https://evil.example/x"},
                        allow_redirects=False, timeout=5)
    assert done.status_code == 200 and "signed out" in done.text
    forged = browser.post(f"{live_url}/oauth/logout", data={"confirm": "yes"}, allow_redirects=False, timeout=5)
    assert forged.status_code == 400


def test_es256_client_gets_es256_id_token(live_url: str, make_rp: Any, login: Any) -> None:
    rp = make_rp(name="EC", id_token_alg="ES256")
    done = login(rp)
    tokens = redeem(rp, live_url, done)
    token = jwt.decode(tokens["id_token"], _jwks(live_url), algorithms=["ES256"])
    assert token.header["alg"] == "ES256"


def test_third_party_client_asks_consent_once(live_url: str, make_rp: Any, login: Any,
                                              browser: requests.Session, app: Flask, connection_id: int,
                                              user_id: int) -> None:
    rp = make_rp(name="Partner", third_party=True)
    page = login(rp)
    assert page.response.status_code == 200 and "consent-allow" in page.response.text
    html = page.response.text
    csrf = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    pending = html.split('name="pending_id" value="', 1)[1].split('"', 1)[0]
    allowed = browser.post(f"{live_url}/oauth/consent", data={"csrf_token": csrf, "pending_id": pending,
                                                              "decision": "allow"}, allow_redirects=False, timeout=5)
    assert allowed.status_code == 303
    final = browser.get(live_url + allowed.headers["Location"], allow_redirects=False, timeout=5)
    assert "code=" in final.headers["Location"]
    again = login(rp, expect_login=False)
    assert "code" in again.params  # remembered
    forced = login(rp, expect_login=False, extra={"prompt": "consent"})
    assert forced.response.status_code == 200 and "consent-allow" in forced.response.text


def test_a_redirect_uri_with_a_query_keeps_it_once(live_url: str, make_rp: Any, login: Any) -> None:
    """RFC 6749 §3.1.2: the endpoint URI's query component is retained and the response's parameters are added to
    it; they must not be repeated (a client may treat a repeated parameter as an attack, RFC 6749 §3.1)."""
    rp = make_rp(name="With query", redirect_uri="http://127.0.0.1:9/callback?tenant=a%20b&x=1")
    done = login(rp)
    query = parse_qs(urlsplit(done.response.headers["Location"]).query)
    assert query["tenant"] == ["a b"] and query["x"] == ["1"]
    assert len(query["code"]) == 1 and query["state"] == [done.state] and len(query["iss"]) == 1
    redeem(rp, live_url, done)

"""Follow login end to end over real HTTP: bridge + mounted simulator, a requests "browser", on both databases."""

from __future__ import annotations

import re
import time
from typing import Any

import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from idp_bridge.accounts.models import Identity, User
from idp_bridge.extensions import db
from idp_bridge.simulator.state import openid_for, unionid_for
from tests.login.conftest import APP_ID, REDIRECT, Browser, binding_login, client_params, confirm_login, scan


def _tokens(base: str, rp: tuple[str, str], code: str, verifier: str) -> dict[str, Any]:
    response = requests.post(f"{base}/oauth/token", auth=rp, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _claims(base: str, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(requests.get(f"{base}/oauth/jwks", timeout=5).json())
    return dict(jwt.decode(id_token, keys).claims)


def test_first_follow_logs_in_and_id_token_carries_openid_unionid(live_url: str, rp: tuple[str, str]) -> None:
    browser = Browser(live_url)
    page = browser.start(rp[0])
    assert page.status_code == 200 and 'id="qr"' in page.text and "<svg" in page.text
    assert "ACME 服务号" in page.text and "ACME Shop" in page.text
    listener = browser.listen()
    time.sleep(0.2)
    result = scan(live_url, browser.ticket, "Alice", "follow")
    assert result["status"] == "delivered" and result["event"] == "subscribe"
    assert result["reply"] == "欢迎登录 ACME"
    listener.join(10)
    assert [e["state"] for e in browser.events][-1] == "succeeded"
    final = browser.finish()
    params = client_params(final)
    assert final.headers["Location"].startswith(REDIRECT) and params["state"] == "st" and params["iss"] == live_url
    tokens = _tokens(live_url, rp, params["code"], browser.verifier)
    claims = _claims(live_url, tokens["id_token"])
    assert claims["openid"] == openid_for(APP_ID, "Alice") and claims["unionid"] == unionid_for("Alice")
    assert claims["sub"] != claims["openid"]
    # The openid never reached the browser: not in any URL, page or cookie it saw.
    openid = claims["openid"]
    assert openid not in page.text and all(openid not in c.value for c in browser.session.cookies)
    assert all(openid not in str(e) for e in browser.events)


def test_returning_follower_scans_and_sso_skips_the_qr(live_url: str, rp: tuple[str, str]) -> None:
    first = Browser(live_url)
    first.start(rp[0])
    scan(live_url, first.ticket, "Bob", "follow")
    second = Browser(live_url)
    second.start(rp[0])
    listener = second.listen()
    result = scan(live_url, second.ticket, "Bob", "scan")
    assert result["event"] == "SCAN"
    listener.join(10)
    done = second.finish()
    assert "code" in client_params(done)
    again = second.session.get(f"{live_url}/oauth/authorize", allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": rp[0], "redirect_uri": REDIRECT, "scope": "openid", "state": "s2",
        "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert again.status_code == 302 and "code=" in again.headers["Location"]


def test_scan_without_follow_sends_nothing_and_other_browser_sees_nothing(live_url: str, rp: tuple[str, str]) -> None:
    victim, attacker = Browser(live_url), Browser(live_url)
    victim.start(rp[0])
    attacker.start(rp[0])
    assert scan(live_url, victim.ticket, "Carol", "scan")["status"] == "not_following"
    # The attacker knows the victim's pending id and login session id: still nothing.
    stolen = attacker.session.get(f"{live_url}/login/{victim.pending_id}/events", params={"ls": victim.login_session},
                                  timeout=5)
    assert stolen.status_code == 404
    scan(live_url, victim.ticket, "Carol", "follow")
    grab = attacker.session.get(f"{live_url}/login/{victim.pending_id}/complete", params={"ls": victim.login_session},
                                allow_redirects=False, timeout=5)
    assert grab.status_code == 400 and "code=" not in grab.headers.get("Location", "")
    # Scene X never completes scene Y: the attacker's own session is still waiting.
    own = attacker.session.get(f"{live_url}/login/{attacker.pending_id}", timeout=5)
    assert 'data-state="waiting"' in own.text


def test_login_only_refuses_unknown_and_admits_provisioned(app: Flask, live_url: str, make_connection: Any) -> None:
    from idp_bridge.oidc.registration import create_client

    conn = make_connection("members", login_only=True, scene_prefix="mem_")
    with app.app_context():
        client, secret = create_client("Members", [REDIRECT], connections=["members"])
        rp = (client.client_id, secret or "")
    browser = Browser(live_url)
    browser.start(rp[0])
    listener = browser.listen()
    scan(live_url, browser.ticket, "Dave", "follow")
    listener.join(10)
    assert browser.events[-1]["state"] == "refused" and "not registered" in browser.events[-1]["message"]
    with app.app_context():
        user = User(name="Erin")
        db.session.add(user)
        db.session.flush()
        db.session.add(Identity(user_id=user.id, connection_id=conn, openid=openid_for(APP_ID, "Erin")))
        db.session.commit()
    ok = Browser(live_url)
    ok.start(rp[0])
    ok.scanned("Erin")
    assert ok.events[-1]["state"] == "succeeded"


def test_blocked_user_is_refused(app: Flask, live_url: str, rp: tuple[str, str]) -> None:
    first = Browser(live_url)
    first.start(rp[0])
    scan(live_url, first.ticket, "Frank", "follow")
    with app.app_context():
        identity = db.session.scalar(db.select(Identity).where(Identity.openid == openid_for(APP_ID, "Frank")))
        assert identity is not None
        identity.user.blocked = True
        db.session.commit()
    second = Browser(live_url)
    second.start(rp[0])
    listener = second.listen()
    scan(live_url, second.ticket, "Frank", "scan")
    listener.join(10)
    assert second.events[-1]["state"] == "refused" and "blocked" in second.events[-1]["message"]


def test_binding_code_flow_with_limited_attempts(app: Flask, live_url: str, make_connection: Any, cli_run: Any) -> None:
    import json

    browser, code, user = binding_login(app, live_url, make_connection, cli_run, "Grace")
    listener = browser.listen()
    scan(live_url, browser.ticket, "Grace", "follow")
    listener.join(10)
    assert browser.events[-1]["state"] == "binding"
    page = browser.open_page()
    assert 'id="binding-form"' in page.text
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    wrong = browser.session.post(f"{live_url}/login/{browser.pending_id}/bind", timeout=5, allow_redirects=False,
                                 data={"csrf_token": csrf, "ls": browser.login_session, "code": "WRONGCODE"})
    assert wrong.status_code == 400 and "4" in wrong.text
    right = browser.session.post(f"{live_url}/login/{browser.pending_id}/bind", timeout=5, allow_redirects=False,
                                 data={"csrf_token": csrf, "ls": browser.login_session, "code": code.lower()})
    assert right.status_code == 303
    browser.events.append({"state": "succeeded", "next": right.headers["Location"]})
    assert "code" in client_params(browser.finish())
    shown = json.loads(cli_run("user", "show", user["sub"], "--json").output)
    assert shown["identities"][0]["openid"] == openid_for(APP_ID, "Grace")


def test_expired_qr_is_renewed_for_the_same_login(app: Flask, live_url: str, rp: tuple[str, str]) -> None:
    from idp_bridge.login.models import LoginSession
    from idp_bridge.timeutil import utcnow

    browser = Browser(live_url)
    browser.start(rp[0])
    old_ticket, old_session = browser.ticket, browser.login_session
    with app.app_context():
        db.session.execute(db.update(LoginSession).values(expires_at=utcnow()))
        db.session.commit()
    listener = browser.listen()
    listener.join(10)
    assert browser.events[-1]["state"] == "expired"
    stale = scan(live_url, old_ticket, "Heidi", "follow")  # WeChat may still deliver it: the bridge ignores it
    assert stale["reply"] is None
    browser.open_page()
    assert browser.ticket and browser.ticket != old_ticket and browser.login_session != old_session
    listener = browser.listen()
    scan(live_url, browser.ticket, "Heidi", "follow")
    listener.join(10)
    assert browser.events[-1]["state"] == "succeeded"


def test_wechat_failure_shows_a_clear_message(live_url: str, rp: tuple[str, str]) -> None:
    requests.post(f"{live_url}/_simulator/control/fail", json={"endpoint": "qrcode_create", "errcode": 48001},
                  timeout=5)
    browser = Browser(live_url)
    page = browser.start(rp[0])
    assert page.status_code == 502 and "verified service account" in page.text


def test_cancel_returns_access_denied(live_url: str, rp: tuple[str, str]) -> None:
    browser = Browser(live_url)
    browser.start(rp[0])
    out = browser.session.get(f"{live_url}/login/{browser.pending_id}/cancel", allow_redirects=False, timeout=5)
    assert client_params(out)["error"] == "access_denied"


def test_forged_and_replayed_events_never_complete_a_login(app: Flask, live_url: str, rp: tuple[str, str]) -> None:
    from idp_bridge.login.models import LoginSession
    from idp_bridge.simulator.push import build_push, render_event_xml
    from tests.login.conftest import AES

    browser = Browser(live_url)
    browser.start(rp[0])
    with app.app_context():
        scene = db.session.get(LoginSession, browser.login_session).scene  # type: ignore[union-attr]
    xml = render_event_xml("gh_x", "oFORGER", int(time.time()), "SCAN", scene, "T")
    url = f"{live_url}/connections/social/acme/events"
    forged = build_push(xml, token="WrongToken1", mode="safe", app_id=APP_ID, openid="oFORGER", to_user="gh_x",
                        encoding_aes_key=AES)
    assert requests.post(url, params=forged.params, data=forged.body, timeout=5).status_code == 403
    wrong_key = build_push(xml, token="Token123", mode="safe", app_id=APP_ID, openid="oFORGER", to_user="gh_x",
                           encoding_aes_key="Q" * 43)
    assert requests.post(url, params=wrong_key.params, data=wrong_key.body, timeout=5).status_code == 400
    with app.app_context():
        assert db.session.get(LoginSession, browser.login_session).state == "waiting"  # type: ignore[union-attr]
    # A genuine push completes it once; replaying it later does not start or complete anything else.
    genuine = build_push(xml, token="Token123", mode="safe", app_id=APP_ID, openid="oREAL", to_user="gh_x",
                         encoding_aes_key=AES)
    assert requests.post(url, params=genuine.params, data=genuine.body, timeout=5).status_code == 200
    other = Browser(live_url)
    other.start(rp[0])
    assert requests.post(url, params=genuine.params, data=genuine.body, timeout=5).text == "success"
    with app.app_context():
        assert db.session.get(LoginSession, other.login_session).state == "waiting"  # type: ignore[union-attr]


def test_confirm_in_wechat_needs_the_code_from_the_page(app: Flask, live_url: str, make_connection: Any) -> None:
    browser = confirm_login(app, live_url, make_connection)
    listener = browser.listen()
    first = scan(live_url, browser.ticket, "Nina", "follow")
    assert "Bank" in first["reply"] and "4-digit" in first["reply"]  # the chat names the application
    listener.join(10)
    assert browser.events[-1]["state"] == "confirm"
    page = browser.open_page()
    code = page.text.split('id="confirm-code"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert len(code) == 4 and 'id="qr"' not in page.text
    wrong = "0000" if code != "0000" else "1111"
    sent = requests.post(f"{live_url}/_simulator/api/scan", timeout=10,
                         json={"ticket": browser.ticket, "user": "Nina", "action": "text", "content": wrong}).json()
    assert "does not match" in sent["reply"]
    listener = browser.listen(until=("succeeded", "refused"))
    requests.post(f"{live_url}/_simulator/api/scan", timeout=10,
                  json={"ticket": browser.ticket, "user": "Nina", "action": "text", "content": f" {code} "})
    listener.join(10)
    assert browser.events[-1]["state"] == "succeeded"
    assert "code" in client_params(browser.finish())


def test_default_reply_names_application_and_time(app: Flask, live_url: str, make_connection: Any) -> None:
    from idp_bridge.oidc.registration import create_client

    make_connection("plain", scene_prefix="pl_", reply_text=None)
    with app.app_context():
        client_id = create_client("Shop Two", [REDIRECT], connections=["plain"])[0].client_id
    browser = Browser(live_url)
    browser.start(client_id)
    reply = scan(live_url, browser.ticket, "Omar", "follow")["reply"]
    assert "Shop Two" in reply
    assert re.search(r"\d\d:\d\d", reply.split("Shop Two", 1)[1])  # the time follows the application's name

"""Users screen, the newer actions (SPEC §12 screen 4): create a user (pre-provisioning), unlink an identity,
revoke a consent — over real HTTP with a console session, on both databases. Each: works for an admin and is
audited; a viewer gets 403, a POST without CSRF token 400, bad input a clear 4xx — and nothing changes."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from idp_bridge.accounts import admin as accounts
from idp_bridge.accounts.models import Identity, User
from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.oidc.models import Consent, SsoSession, Token
from idp_bridge.oidc.registration import create_client
from idp_bridge.timeutil import utcnow
from tests.admin.test_console_hostile import _signed_in
from tests.login.conftest import app_config, make_connection  # noqa: F401


def _users(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(db.select(db.func.count()).select_from(User)) or 0)


def _audit(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)))


def _token_row(user_id: int, client_id: str, connection_id: int | None) -> Token:
    now = utcnow()
    return Token(client_id=client_id, user_id=user_id, access_token_digest=secrets.token_hex(16),
                 refresh_token_digest=secrets.token_hex(16), family_id=secrets.token_hex(8), auth_time=0,
                 connection_id=connection_id, access_expires_at=now + timedelta(hours=1),
                 refresh_expires_at=now + timedelta(days=30))


def _sso_row(user_id: int, connection_id: int | None) -> SsoSession:
    return SsoSession(sid=secrets.token_hex(8), cookie_digest=secrets.token_hex(16), user_id=user_id, auth_time=0,
                      connection_id=connection_id, expires_at=utcnow() + timedelta(hours=8))


# --- create ------------------------------------------------------------------------------------------------------

def test_admin_creates_a_preprovisioned_user_for_a_connection(
        app: Flask, live_url: str, make_connection: Any) -> None:  # noqa: F811
    make_connection(login_only=True)
    browser, csrf = _signed_in(app, live_url, "admin")
    form = browser.get(f"{live_url}/admin/users/new", timeout=10)
    assert form.status_code == 200 and '<label for="openid">' in form.text and ">acme</option>" in form.text
    zh = browser.get(f"{live_url}/admin/users/new", headers={"Accept-Language": "zh-CN"}, timeout=10).text
    assert "创建用户" in zh and "仅限已登记用户" in zh
    answer = browser.post(f"{live_url}/admin/users/new", data={
        "csrf_token": csrf, "name": "Grace", "connection": "acme", "openid": "oGRACE_0001", "unionid": ""},
        allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.name == "Grace"))
        assert user is not None
        assert [(i.openid, i.unionid) for i in user.identities] == [("oGRACE_0001", None)]
        sub = user.sub
    assert answer.headers["Location"] == f"/admin/users/{sub}?done=1"
    [row] = _audit(app, "user.create")
    assert (row.actor, row.target, row.details) == ("admin-sub-1", sub, {"connection": "acme"})
    shown = browser.get(f"{live_url}{answer.headers['Location']}", timeout=10).text
    assert "oGRACE_0001" in shown and 'id="done"' in shown

    plain = browser.post(f"{live_url}/admin/users/new", data={"csrf_token": csrf, "name": "Later, by code"},
                         allow_redirects=False, timeout=10)
    assert plain.status_code == 303  # no identity: they will get a binding code
    assert _users(app) == 2


@pytest.mark.parametrize(("fields", "error"), [
    ({"name": "x", "openid": "bad openid!", "connection": "acme"},
     "openid: must be 6-64 characters of letters, digits, &#39;_&#39; and &#39;-&#39;"),
    ({"name": "x", "openid": "oSOMEONE_1"}, "openid: --openid and --connection go together"),
    ({"name": "x", "openid": "oSOMEONE_1", "connection": "nope"}, "connection: no connection &#39;nope&#39;"),
    ({"name": "N" * 101}, "name: must be 1-100 characters"),
    ({"name": "x", "openid": "oTAKEN_0001", "connection": "acme"},
     "openid: already belongs to a user on this connection"),
    ({"name": "x", "openid": "oSOMEONE_1", "connection": "acme", "unionid": "u!"},
     "unionid: must be 6-64 characters of letters, digits, &#39;_&#39; and &#39;-&#39;"),
])
def test_creating_with_bad_input_shows_the_cli_words_and_creates_nothing(
        app: Flask, live_url: str, make_connection: Any, fields: dict[str, str], error: str) -> None:  # noqa: F811
    make_connection()
    with app.app_context():
        accounts.create_user("Taken", "oTAKEN_0001", "acme")
    browser, csrf = _signed_in(app, live_url, "admin")
    answer = browser.post(f"{live_url}/admin/users/new", data={"csrf_token": csrf, **fields}, timeout=10)
    assert answer.status_code == 400
    assert error in answer.text, answer.text
    assert 'class="field-error"' in answer.text
    assert _users(app) == 1 and not _audit(app, "user.create")


def test_creating_needs_an_admin_and_a_csrf_token(app: Flask, live_url: str, make_connection: Any) -> None:  # noqa: F811
    make_connection()
    viewer, csrf = _signed_in(app, live_url, "viewer")
    form = viewer.get(f"{live_url}/admin/users/new", timeout=10).text
    assert 'id="create" disabled' in form
    assert 'id="create-user"' not in viewer.get(f"{live_url}/admin/users", timeout=10).text
    assert viewer.post(f"{live_url}/admin/users/new", data={"csrf_token": csrf, "name": "V"},
                       timeout=10).status_code == 403
    admin, _ = _signed_in(app, live_url, "admin")
    assert admin.post(f"{live_url}/admin/users/new", data={"name": "No token"}, timeout=10).status_code == 400
    assert _users(app) == 0


# --- unlink ------------------------------------------------------------------------------------------------------

@pytest.fixture
def linked(app: Flask, make_connection: Any) -> dict[str, Any]:  # noqa: F811
    """Ada with identities on two connections, a session and a token obtained through each."""
    acme = make_connection()
    other = make_connection("other", app_id="wx1123456789abcdef", scene_prefix="oth_")
    with app.app_context():
        user = accounts.create_user("Ada", "oADA_ACME_1", "acme")
        db.session.add(Identity(user_id=user.id, connection_id=other, openid="oADA_OTHER_1"))
        for connection in (acme, other):
            db.session.add(_token_row(user.id, "some-client", connection))
            db.session.add(_sso_row(user.id, connection))
        db.session.commit()
        ids = {accounts.identity_connection(i): i.id for i in user.identities}
        return {"sub": user.sub, "user_id": user.id, "acme": acme, "other": other, "ids": ids}


def _identities(app: Flask, user_id: int) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(db.select(Identity.openid).where(Identity.user_id == user_id)))


def _live(app: Flask, model: Any, user_id: int) -> list[int | None]:
    with app.app_context():
        return sorted(db.session.scalars(db.select(model.connection_id).where(model.user_id == user_id,
                                                                              model.revoked_at.is_(None))))


def test_unlinking_an_identity_ends_what_was_obtained_through_it(app: Flask, live_url: str,
                                                                 linked: dict[str, Any]) -> None:
    browser, csrf = _signed_in(app, live_url, "admin")
    sub, ids = linked["sub"], linked["ids"]
    page = browser.get(f"{live_url}/admin/users/{sub}", timeout=10).text
    assert f'id="unlink-{ids["other"]}"' in page and 'id="unlink-last-note"' not in page
    answer = browser.post(f"{live_url}/admin/users/{sub}/unlink", data={"csrf_token": csrf, "identity": ids["other"]},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert _identities(app, linked["user_id"]) == ["oADA_ACME_1"]
    assert _live(app, Token, linked["user_id"]) == [linked["acme"]]  # the other connection's token revoked
    assert _live(app, SsoSession, linked["user_id"]) == [linked["acme"]]
    [row] = _audit(app, "user.unlink")
    assert (row.actor, row.target, row.details) == ("admin-sub-1", sub, {"connection": "other"})


def test_the_last_identity_is_unlinked_only_when_the_admin_confirms(app: Flask, live_url: str,
                                                                   linked: dict[str, Any]) -> None:
    browser, csrf = _signed_in(app, live_url, "admin")
    sub, ids = linked["sub"], linked["ids"]
    assert browser.post(f"{live_url}/admin/users/{sub}/unlink", data={"csrf_token": csrf, "identity": ids["other"]},
                        timeout=10).status_code == 200
    page = browser.get(f"{live_url}/admin/users/{sub}", timeout=10).text
    assert 'id="unlink-last-note"' in page and "binding code" in page
    refused = browser.post(f"{live_url}/admin/users/{sub}/unlink", data={"csrf_token": csrf, "identity": ids["acme"]},
                           timeout=10)
    assert refused.status_code == 400
    assert "identity: is the user&#39;s last identity: after unlinking it they can sign in again only with a " \
           "binding code; confirm to unlink it anyway" in refused.text
    assert _identities(app, linked["user_id"]) == ["oADA_ACME_1"]
    assert _live(app, Token, linked["user_id"]) == [linked["acme"]]
    confirmed = browser.post(f"{live_url}/admin/users/{sub}/unlink",
                             data={"csrf_token": csrf, "identity": ids["acme"], "confirm_last": "y"},
                             allow_redirects=False, timeout=10)
    assert confirmed.status_code == 303
    assert _identities(app, linked["user_id"]) == [] and _live(app, Token, linked["user_id"]) == []
    assert _audit(app, "user.unlink")[-1].details == {"connection": "acme", "last": True}


@pytest.mark.parametrize("identity", ["", "0", "abc", "99999999999999999999", "-1", "stranger"])
def test_unlinking_what_is_not_this_users_identity_is_400(app: Flask, live_url: str, linked: dict[str, Any],
                                                          identity: str) -> None:
    with app.app_context():
        stranger = accounts.create_user("Eve", "oEVE_000001", "acme")
        stranger_identity = stranger.identities[0].id
    browser, csrf = _signed_in(app, live_url, "admin")
    target = str(stranger_identity) if identity == "stranger" else identity
    answer = browser.post(f"{live_url}/admin/users/{linked['sub']}/unlink",
                          data={"csrf_token": csrf, "identity": target, "confirm_last": "y"}, timeout=10)
    assert answer.status_code == 400 and "identity: is not an identity of this user" in answer.text
    assert _identities(app, linked["user_id"]) == ["oADA_ACME_1", "oADA_OTHER_1"]
    assert len(_identities(app, _user_id(app, "Eve"))) == 1
    assert not _audit(app, "user.unlink")


def _user_id(app: Flask, name: str) -> int:
    with app.app_context():
        return int(db.session.scalar(db.select(User.id).where(User.name == name)) or 0)


def test_unlinking_needs_an_admin_and_a_csrf_token(app: Flask, live_url: str, linked: dict[str, Any]) -> None:
    url, identity = f"{live_url}/admin/users/{linked['sub']}/unlink", linked["ids"]["other"]
    viewer, csrf = _signed_in(app, live_url, "viewer")
    assert 'id="unlink-' not in viewer.get(f"{live_url}/admin/users/{linked['sub']}", timeout=10).text
    assert viewer.post(url, data={"csrf_token": csrf, "identity": identity}, timeout=10).status_code == 403
    admin, _ = _signed_in(app, live_url, "admin")
    assert admin.post(url, data={"identity": identity}, timeout=10).status_code == 400
    assert _identities(app, linked["user_id"]) == ["oADA_ACME_1", "oADA_OTHER_1"]
    assert len(_live(app, Token, linked["user_id"])) == 2


# --- consents ----------------------------------------------------------------------------------------------------

@pytest.fixture
def consented(app: Flask, make_connection: Any) -> dict[str, Any]:  # noqa: F811
    make_connection()
    with app.app_context():
        shop, _ = create_client("Third Shop", ["https://shop.example/cb"], third_party=True)
        blog, _ = create_client("Third Blog", ["https://blog.example/cb"], third_party=True)
        user = accounts.create_user("Ada", "oADA_ACME_1", "acme")
        for client in (shop, blog):
            db.session.add(Consent(user_id=user.id, client_id=client.client_id, scope="openid profile"))
            db.session.add(_token_row(user.id, client.client_id, None))
        db.session.commit()
        return {"sub": user.sub, "user_id": user.id, "shop": shop.client_id, "blog": blog.client_id}


def _consents(app: Flask, user_id: int) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(db.select(Consent.client_id).where(Consent.user_id == user_id)))


def _live_clients(app: Flask, user_id: int) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(db.select(Token.client_id).where(Token.user_id == user_id,
                                                                          Token.revoked_at.is_(None))))


def test_user_page_lists_consents_and_revoking_one_revokes_its_tokens(app: Flask, live_url: str,
                                                                     consented: dict[str, Any]) -> None:
    browser, csrf = _signed_in(app, live_url, "admin")
    page = browser.get(f"{live_url}/admin/users/{consented['sub']}", timeout=10).text
    table = page.split('id="consents"', 1)[1].split("</table>", 1)[0]
    assert "Third Shop" in table and "Third Blog" in table and "openid profile" in table
    zh = browser.get(f"{live_url}/admin/users/{consented['sub']}", headers={"Accept-Language": "zh"}, timeout=10)
    assert "已授权的第三方应用" in zh.text
    answer = browser.post(f"{live_url}/admin/users/{consented['sub']}/consents/revoke",
                          data={"csrf_token": csrf, "client_id": consented["shop"]}, allow_redirects=False,
                          timeout=10)
    assert answer.status_code == 303
    assert _consents(app, consented["user_id"]) == [consented["blog"]]
    assert _live_clients(app, consented["user_id"]) == [consented["blog"]]
    [row] = _audit(app, "user.consent_revoke")
    assert (row.actor, row.target, row.details) == ("admin-sub-1", consented["sub"], {"client": consented["shop"]})


@pytest.mark.parametrize("client_id", ["", "unknown-client", "x" * 65, "' OR 1=1 --"])
def test_revoking_a_consent_the_user_has_not_given_is_400(app: Flask, live_url: str, consented: dict[str, Any],
                                                          client_id: str) -> None:
    browser, csrf = _signed_in(app, live_url, "admin")
    answer = browser.post(f"{live_url}/admin/users/{consented['sub']}/consents/revoke",
                          data={"csrf_token": csrf, "client_id": client_id}, timeout=10)
    assert answer.status_code == 400
    assert "client_id: the user has no consent for this application" in answer.text
    assert len(_consents(app, consented["user_id"])) == 2 and len(_live_clients(app, consented["user_id"])) == 2


def test_revoking_a_consent_needs_an_admin_and_a_csrf_token(app: Flask, live_url: str,
                                                            consented: dict[str, Any]) -> None:
    url = f"{live_url}/admin/users/{consented['sub']}/consents/revoke"
    viewer, csrf = _signed_in(app, live_url, "viewer")
    assert 'id="revoke-consent-' not in viewer.get(f"{live_url}/admin/users/{consented['sub']}", timeout=10).text
    assert viewer.post(url, data={"csrf_token": csrf, "client_id": consented["shop"]}, timeout=10).status_code == 403
    admin, _ = _signed_in(app, live_url, "admin")
    assert admin.post(url, data={"client_id": consented["shop"]}, timeout=10).status_code == 400
    assert len(_consents(app, consented["user_id"])) == 2 and len(_live_clients(app, consented["user_id"])) == 2


def test_unknown_user_is_404_for_every_new_action(app: Flask, live_url: str, make_connection: Any) -> None:  # noqa: F811
    make_connection()
    browser, csrf = _signed_in(app, live_url, "admin")
    for path in ("unlink", "consents/revoke"):
        answer = browser.post(f"{live_url}/admin/users/no-such-sub/{path}", data={"csrf_token": csrf}, timeout=10)
        assert answer.status_code == 404

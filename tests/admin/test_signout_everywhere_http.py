"""Sign out everywhere (SPEC §12 screen 4), proven the way an application lives it: it holds a refresh token
(``offline_access``) obtained over HTTP after a real follow login through the simulator; the admin presses
"sign out everywhere" through the console's HTTP route; the application's next refresh at ``/oauth/token`` is
refused with ``invalid_grant`` (RFC 6749 §5.2) and its access token no longer opens ``/oauth/userinfo``."""

from __future__ import annotations

import requests
from flask import Flask

from tests.admin.test_console_hostile import _signed_in
from tests.login.conftest import (  # noqa: F401  (fixtures: rp needs connection_id needs make_connection)
    REDIRECT,
    Browser,
    app_config,
    client_params,
    connection_id,
    make_connection,
    rp,
)


def _token(live_url: str, client: tuple[str, str], **form: str) -> requests.Response:
    return requests.post(f"{live_url}/oauth/token", data=form, auth=client, timeout=10)


def test_refresh_token_is_refused_after_the_console_signs_the_user_out_everywhere(
        app: Flask, live_url: str, rp: tuple[str, str]) -> None:  # noqa: F811
    browser = Browser(live_url)
    browser.start(rp[0], scope="openid offline_access")
    browser.scanned("Alice")
    code = client_params(browser.finish())["code"]
    issued = _token(live_url, rp, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                    code_verifier=browser.verifier)
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens.get("refresh_token"), tokens

    refreshed = _token(live_url, rp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text  # the refresh token works before the sign-out
    tokens = refreshed.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = requests.get(f"{live_url}/oauth/userinfo", headers=bearer, timeout=10)
    assert info.status_code == 200
    sub = info.json()["sub"]

    console, csrf = _signed_in(app, live_url, "admin")
    page = console.get(f"{live_url}/admin/users/{sub}", timeout=10)
    assert page.status_code == 200 and 'id="signout-everywhere"' in page.text
    done = console.post(f"{live_url}/admin/users/{sub}/signout", data={"csrf_token": csrf}, allow_redirects=False,
                        timeout=10)
    assert done.status_code == 303 and done.headers["Location"] == f"/admin/users/{sub}?done=1"

    refused = _token(live_url, rp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text
    assert requests.get(f"{live_url}/oauth/userinfo", headers=bearer, timeout=10).status_code == 401


def test_signing_out_everywhere_needs_an_admin_and_a_csrf_token(app: Flask, live_url: str,
                                                               rp: tuple[str, str]) -> None:  # noqa: F811
    browser = Browser(live_url)
    browser.start(rp[0], scope="openid offline_access")
    browser.scanned("Bob")
    code = client_params(browser.finish())["code"]
    tokens = _token(live_url, rp, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                    code_verifier=browser.verifier).json()
    sub = requests.get(f"{live_url}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                       timeout=10).json()["sub"]
    viewer, csrf = _signed_in(app, live_url, "viewer")
    assert viewer.post(f"{live_url}/admin/users/{sub}/signout", data={"csrf_token": csrf},
                       timeout=10).status_code == 403
    admin, _ = _signed_in(app, live_url, "admin")
    assert admin.post(f"{live_url}/admin/users/{sub}/signout", data={}, timeout=10).status_code == 400
    still = _token(live_url, rp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert still.status_code == 200, still.text

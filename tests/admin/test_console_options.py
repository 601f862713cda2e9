"""Console fields for options that used to be CLI-only, on both databases (SPEC §12–§14): a connection's reach
(account type, send-a-code, web authorization, follow requirement, account QR URL) and event policy
(on_unsubscribe, pass-through forward_url); dropping the previous EncodingAESKey; an application's back-channel
logout URI; and the ready-to-paste relying-party settings. Refusals read as the CLI's, by their field, with
nothing written; viewer 403; CSRF 400; every change audited with the admin's sub."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from idp_bridge.events import backchannel
from idp_bridge.extensions import db
from idp_bridge.oidc.models import Client
from idp_bridge.oidc.registration import create_client
from idp_bridge.wechat import connections, options
from idp_bridge.wechat.models import Connection
from tests.admin.signed_in import Console, audited, field_error
from tests.login.conftest import AES, APP_ID, make_connection  # noqa: F401  (fixture)

NEW_AES = "B" * 43
BASE_FORM = {"identifier": "beta", "display_name": "Beta 服务号", "app_id": APP_ID,
             "app_secret": "0123456789abcdef0123456789abcdef", "token": "Token123", "encryption": "safe",
             "encoding_aes_key": "A" * 43, "association": "none", "reply_text": "hi", "scene_prefix": "beta_",
             "account_type": "service", "on_unsubscribe": "keep"}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "simulator": True}


def _options(app: Flask, identifier: str) -> dict[str, Any] | None:
    with app.app_context():
        row = connections.get_connection(identifier)
        return None if row is None else options.describe(row)


def test_connection_reach_and_event_options_match_the_cli(app: Flask, live_url: str, cli_run: Any) -> None:
    console = Console(app, live_url)
    created = console.post("/admin/connections/new", {**BASE_FORM, "web_auth": "y", "require_follow": "y",
                                                      "code_login": "y", "on_unsubscribe": "revoke",
                                                      "forward_url": "http://10.0.0.5:8080/wx",
                                                      "account_qr_url": "http://weixin.qq.com/r/abc"})
    assert created.status_code == 303, field_error(created.text, "name") if created.status_code == 400 else ""
    wanted = {"account_type": "service", "code_login": True, "web_auth": True, "require_follow": True,
              "account_qr_url": "http://weixin.qq.com/r/abc", "on_unsubscribe": "revoke",
              "forward_url": "http://10.0.0.5:8080/wx"}
    assert _options(app, "beta") == wanted
    shown = json.loads(cli_run("connection", "show", "beta", "--json").output)
    assert {k: shown[k] for k in wanted} == wanted  # the CLI reads what the console wrote
    page = console.get("/admin/connections/beta").text
    assert 'id="on-unsubscribe">revoke<' in page and "http://10.0.0.5:8080/wx" in page
    # The edit form shows the stored values, and an edit changes only what it says.
    form = console.get("/admin/connections/beta/edit").text
    assert re.search(r'<input checked id="web_auth"', form) and 'value="http://10.0.0.5:8080/wx"' in form
    edited = console.post("/admin/connections/beta/edit", {**BASE_FORM, "account_type": "subscription",
                                                           "on_unsubscribe": "block", "forward_url": ""})
    assert edited.status_code == 303
    assert _options(app, "beta") == {"account_type": "subscription", "code_login": True, "web_auth": False,
                                     "require_follow": False, "account_qr_url": None, "on_unsubscribe": "block",
                                     "forward_url": None}
    events = audited(app, "connection.options")
    assert [e.actor for e in events] == [console.sub, console.sub]
    assert set(events[1].details["fields"]) >= {"account_type", "on_unsubscribe", "forward_url", "web_auth"}


@pytest.mark.parametrize(("field", "change", "cli_args"), [
    ("require_follow", {"require_follow": "y"}, ["--require-follow"]),
    ("web_auth", {"account_type": "subscription", "web_auth": "y"}, ["--account-type", "subscription",
                                                                      "--web-auth"]),
    ("forward_url", {"forward_url": "ftp://backend/wx"}, ["--forward-url", "ftp://backend/wx"]),
    ("account_qr_url", {"account_qr_url": "javascript:alert(1)"}, ["--account-qr-url", "javascript:alert(1)"]),
    ("on_unsubscribe", {"on_unsubscribe": "explode"}, None),
    ("account_type", {"account_type": "enterprise"}, None),
])
def test_a_refused_option_is_shown_by_its_field_and_nothing_is_written(
        app: Flask, live_url: str, cli_run: Any, make_connection: Any,  # noqa: F811
        field: str, change: dict[str, str], cli_args: list[str] | None) -> None:
    make_connection()
    console = Console(app, live_url)
    answer = console.post("/admin/connections/new", {**BASE_FORM, **change})
    assert answer.status_code == 400
    shown = field_error(answer.text, field)
    if cli_args is not None:  # (the CLI's click.Choice refuses the others before the domain sees them)
        cli = cli_run("connection", "update", "acme", *cli_args, "--json")
        assert shown == "{field}: {rule}".format(**json.loads(cli.output)), (shown, cli.output)
    with app.app_context():
        assert db.session.scalar(db.select(Connection).where(Connection.identifier == "beta")) is None
    # On edit too: the connection's own fields in the same form are not written either.
    before = _options(app, "acme")
    bad_edit = console.post("/admin/connections/acme/edit", {**BASE_FORM, "display_name": "Renamed", **change})
    assert bad_edit.status_code == 400 and field_error(bad_edit.text, field) == shown
    with app.app_context():
        assert connections.get_connection("acme").display_name == "ACME 服务号"  # type: ignore[union-attr]
    assert _options(app, "acme") == before
    assert audited(app, "connection.options") == []
    assert [e for e in audited(app, "connection.create") + audited(app, "connection.update")
            if e.actor == console.sub] == []


def test_drop_the_previous_aes_key_after_a_key_change(app: Flask, live_url: str,
                                                      make_connection: Any) -> None:  # noqa: F811
    make_connection()
    console, viewer = Console(app, live_url), Console(app, live_url, "viewer")
    assert 'id="drop-previous-key"' not in console.get("/admin/connections/acme").text  # no key change yet
    changed = console.post("/admin/connections/acme/edit", {**BASE_FORM, "encoding_aes_key": NEW_AES})
    assert changed.status_code == 303
    with app.app_context():
        row = connections.get_connection("acme")
        assert row is not None and row.previous_aes_key_sealed is not None
        assert connections.connection_secrets(app.config["SECRET_KEY"], row).aes_keys() == [NEW_AES, AES]
    page = console.get("/admin/connections/acme").text
    assert 'id="drop-previous-key"' in page
    assert 'id="drop-previous-key"' not in viewer.get("/admin/connections/acme").text
    assert viewer.post("/admin/connections/acme/drop-previous-key").status_code == 403
    assert console.post("/admin/connections/acme/drop-previous-key", csrf=False).status_code == 400
    with app.app_context():
        assert connections.get_connection("acme").previous_aes_key_sealed is not None  # type: ignore[union-attr]
    dropped = console.post("/admin/connections/acme/drop-previous-key")
    assert dropped.status_code == 303 and dropped.headers["Location"].endswith("?done=1")
    with app.app_context():
        row = connections.get_connection("acme")
        assert row is not None and row.previous_aes_key_sealed is None
        assert connections.connection_secrets(app.config["SECRET_KEY"], row).aes_keys() == [NEW_AES]
    assert 'id="drop-previous-key"' not in console.get("/admin/connections/acme").text
    assert console.post("/admin/connections/acme/drop-previous-key").status_code == 303  # idempotent
    assert console.post("/admin/connections/nope/drop-previous-key").status_code == 404
    dropped_events = [e for e in audited(app, "connection.update")
                      if "drop_previous_aes_key" in e.details.get("fields", [])]
    assert [e.actor for e in dropped_events] == [console.sub]


def test_backchannel_logout_uri_in_the_application_form(app: Flask, live_url: str, cli_run: Any) -> None:
    console = Console(app, live_url)
    form = {"name": "Shop", "redirect_uris": "https://shop.example/cb", "id_token_alg": "RS256"}
    bad = console.post("/admin/apps/new", {**form, "backchannel_logout_uri": "http://shop.example/bc"})
    assert bad.status_code == 400
    cli = json.loads(cli_run("client", "create", "--name", "X", "--redirect-uri", "https://x.example/cb",
                             "--backchannel-logout-uri", "http://shop.example/bc", "--json").output)
    assert field_error(bad.text, "backchannel_logout_uri") == f"{cli['field']}: {cli['rule']}"
    with app.app_context():
        assert db.session.scalar(db.select(Client).where(Client.name == "Shop")) is None
    created = console.post("/admin/apps/new", {**form, "backchannel_logout_uri": "https://shop.example/bc"})
    assert created.status_code == 200
    client_id = re.search(r'id="client-id">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    with app.app_context():
        assert backchannel.uri_of(client_id) == "https://shop.example/bc"
    assert 'value="https://shop.example/bc"' in console.get(f"/admin/apps/{client_id}/edit").text
    # A refused URI on edit leaves the stored one (and the rest of the form) alone; '' removes it.
    refused = console.post(f"/admin/apps/{client_id}/edit", {**form, "name": "Renamed",
                                                             "backchannel_logout_uri": "https://u:p@shop.example/"})
    assert refused.status_code == 400 and field_error(refused.text, "backchannel_logout_uri")
    with app.app_context():
        assert backchannel.uri_of(client_id) == "https://shop.example/bc"
        assert db.session.scalar(db.select(Client.name).where(Client.client_id == client_id)) == "Shop"
    assert console.post(f"/admin/apps/{client_id}/edit", {**form, "backchannel_logout_uri": ""}).status_code == 303
    with app.app_context():
        assert backchannel.uri_of(client_id) is None
    assert [e.actor for e in audited(app, "client.backchannel")] == [console.sub, console.sub]
    viewer = Console(app, live_url, "viewer")
    assert viewer.post(f"/admin/apps/{client_id}/edit", {**form, "backchannel_logout_uri": "https://a.example/"}
                       ).status_code == 403
    assert console.post(f"/admin/apps/{client_id}/edit", {**form, "backchannel_logout_uri": "https://a.example/"},
                        csrf=False).status_code == 400
    with app.app_context():
        assert backchannel.uri_of(client_id) is None


def test_ready_to_paste_settings_carry_this_applications_values_and_never_the_secret(
        app: Flask, live_url: str, tmp_path: Path) -> None:
    with app.app_context():
        client, secret = create_client("Intranet", ["https://intra.example/oauth2/callback",
                                                    "https://intra.example/redirect_uri",
                                                    "https://intra.example/spa/cb"],
                                       post_logout_redirect_uris=["https://intra.example/"])
        client_id = client.client_id
    page = Console(app, live_url, "viewer").get(f"/admin/apps/{client_id}").text  # read-only is enough
    assert secret and secret not in page
    pastes = {m.group(1): m.group(2) for m in re.finditer(r'<pre class="mono" id="paste-([a-z0-9-]+)"[^>]*>(.*?)</pre>',
                                                          page, re.S)}
    assert set(pastes) == {"oidc-client-ts", "mod-auth-openidc", "oauth2-proxy"}
    import html

    js, apache, proxy = (html.unescape(pastes[k]) for k in ("oidc-client-ts", "mod-auth-openidc", "oauth2-proxy"))
    assert f'authority: "{live_url}",' in js and f'client_id: "{client_id}",' in js
    assert 'response_type: "code",' in js and 'scope: "openid profile",' in js
    assert 'redirect_uri: "https://intra.example/spa/cb",' in js  # not the server-side tools' callbacks
    assert "built-in method" not in page and ">Copy</button>" in page
    assert f"OIDCProviderMetadataURL {live_url}/.well-known/openid-configuration" in apache
    assert f"OIDCClientID {client_id}" in apache and "OIDCRedirectURI https://intra.example/redirect_uri" in apache
    assert 'OIDCScope "openid profile"' in apache and "OIDCCryptoPassphrase" in apache
    assert 'provider = "oidc"' in proxy and f'oidc_issuer_url = "{live_url}"' in proxy
    assert 'redirect_url = "https://intra.example/oauth2/callback"' in proxy
    assert 'oidc_email_claim = "sub"' in proxy and "cookie_secret" in proxy
    assert 'id="discovery-url">' + f"{live_url}/.well-known/openid-configuration<" in page
    # They parse: oauth2-proxy's config file is TOML; the oidc-client-ts snippet is a JavaScript module.
    parsed = tomllib.loads(proxy)
    assert parsed["client_id"] == client_id and parsed["oidc_email_claim"] == "sub"
    assert parsed["email_domains"] == ["*"] and parsed["insecure_oidc_allow_unverified_email"] is True
    module = tmp_path / "settings.mjs"
    module.write_text(js, encoding="utf-8")
    checked = subprocess.run(["node", "--check", str(module)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    # Copy buttons exist but start hidden: without JavaScript the text stays, selectable.
    assert len(re.findall(r'<button type="button" class="secondary copy"[^>]*hidden>', page)) >= 4
    assert "<script>" not in page and 'src="/static/admin/copy.js"' in page


def test_textareas_take_one_value_per_line_as_browsers_send_them(app: Flask, live_url: str,
                                                                make_connection: Any) -> None:  # noqa: F811
    """A textarea submits its line breaks as CRLF: the input gate lets CR/LF through in the console's textarea
    fields only (still refusing every other control), and the console splits or normalises them."""
    make_connection()
    console = Console(app, live_url)
    form = {"name": "Two", "redirect_uris": "https://a.example/cb\r\nhttps://b.example/cb\r\n",
            "web_origins": "https://a.example\r\nhttps://b.example", "id_token_alg": "RS256"}
    created = console.post("/admin/apps/new", form)
    assert created.status_code == 200, created.status_code
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.name == "Two"))
        assert client is not None and client.redirect_uris == ["https://a.example/cb", "https://b.example/cb"]
        assert client.web_origins == ["https://a.example", "https://b.example"]
    edited = console.post("/admin/connections/acme/edit", {**BASE_FORM, "reply_text": "第一行\r\n第二行 {app}"})
    assert edited.status_code == 303
    with app.app_context():
        assert connections.get_connection("acme").reply_text == "第一行\n第二行 {app}"  # type: ignore[union-attr]
    # Only there, and only CR/LF: a line break in a one-line field, or another control in a textarea, is refused.
    assert console.post("/admin/apps/new", {**form, "name": "Three\r\n"}).status_code == 400
    assert console.post("/admin/apps/new", {**form, "name": "Four", "redirect_uris": "https://a.example/\x00"}
                        ).status_code == 400
    assert console.post("/admin/apps/new", {**form, "name": "Five", "redirect_uris": "https://a.example/\t"}
                        ).status_code == 400
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Client).where(
            Client.name.in_(["Three\r\n", "Four", "Five"]))) == 0

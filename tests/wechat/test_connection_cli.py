"""`idp-bridge connection …` on both databases: every validation rule, secrets never printed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from idp_bridge.extensions import db
from idp_bridge.wechat import connections
from idp_bridge.wechat.models import Connection

AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SECRET = "0123456789abcdef0123456789abcdef"
BASE = ["connection", "create", "--identifier", "acme", "--display-name", "ACME 服务号", "--app-id",
        "wx0123456789abcdef", "--app-secret", SECRET, "--token", "MyToken123", "--encoding-aes-key", AES,
        "--encryption", "safe"]


def _count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Connection)) or 0


def test_create_prints_callback_url_and_hides_secrets(cli_run: Any, app: Flask) -> None:
    result = cli_run(*BASE, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["callback_url"] == f"{app.config['IDP_BRIDGE'].issuer}/connections/social/acme/events"
    for secret in (SECRET, AES, "MyToken123"):
        assert secret not in result.output
    shown = cli_run("connection", "show", "acme", "--json")
    listed = cli_run("connection", "list", "--json")
    assert shown.exit_code == 0 and listed.exit_code == 0
    for output in (shown.output, listed.output, cli_run("connection", "list").output):
        assert SECRET not in output and AES not in output and "MyToken123" not in output
    with app.app_context():
        row = db.session.scalar(db.select(Connection))
        assert row is not None and SECRET not in row.app_secret_sealed
        assert AES not in (row.encoding_aes_key_sealed or "")
        secrets = connections.connection_secrets(app.config["SECRET_KEY"], row)
        assert (secrets.app_secret, secrets.token, secrets.encoding_aes_key) == (SECRET, "MyToken123", AES)


def _replace(args: list[str], flag: str, value: str | None) -> list[str]:
    out = list(args)
    i = out.index(flag)
    if value is None:
        del out[i : i + 2]
    else:
        out[i + 1] = value
    return out


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [
        ("--identifier", "ACME", "identifier"),
        ("--identifier", "a" * 32, "identifier"),
        ("--identifier", "a_b", "identifier"),
        ("--token", "ab", "token"),
        ("--token", "x" * 33, "token"),
        ("--token", "tok-en", "token"),
        ("--encoding-aes-key", AES[:-1], "encoding_aes_key"),
        ("--encoding-aes-key", AES[:-1] + "=", "encoding_aes_key"),
        ("--encoding-aes-key", None, "encoding_aes_key"),
        ("--app-id", "wx0123456789ABCDEF", "app_id"),
        ("--app-id", "0123456789abcdef", "app_id"),
        ("--app-secret", "short", "app_secret"),
        ("--display-name", "", "display_name"),
    ],
)
def test_invalid_input_exits_2_naming_the_field_and_writes_nothing(
    cli_run: Any, app: Flask, flag: str, value: str | None, field: str
) -> None:
    result = cli_run(*_replace(BASE, flag, value), "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.output)["field"] == field
    assert _count(app) == 0


def test_plaintext_needs_no_aes_key_and_identifier_is_unique(cli_run: Any, app: Flask) -> None:
    plain = _replace(_replace(BASE, "--encoding-aes-key", None), "--encryption", "plaintext")
    assert cli_run(*plain).exit_code == 0
    again = cli_run(*plain, "--json")
    assert again.exit_code == 2 and json.loads(again.output)["field"] == "identifier"
    assert _count(app) == 1


def test_key_change_keeps_previous_then_drops_it(cli_run: Any, app: Flask) -> None:
    assert cli_run(*BASE).exit_code == 0
    new_key = "Z" * 43
    result = cli_run("connection", "update", "acme", "--encoding-aes-key", new_key, "--json")
    assert result.exit_code == 0 and json.loads(result.output)["key_change_in_progress"] is True
    with app.app_context():
        row = db.session.scalar(db.select(Connection))
        assert row is not None
        assert connections.connection_secrets(app.config["SECRET_KEY"], row).aes_keys() == [new_key, AES]
    result = cli_run("connection", "update", "acme", "--drop-previous-aes-key", "--json")
    assert json.loads(result.output)["key_change_in_progress"] is False


def test_update_is_all_or_nothing_and_unknown_is_exit_1(cli_run: Any, app: Flask) -> None:
    assert cli_run(*BASE).exit_code == 0
    bad = cli_run("connection", "update", "acme", "--display-name", "New", "--token", "x", "--json")
    assert bad.exit_code == 2
    assert json.loads(cli_run("connection", "show", "acme", "--json").output)["display_name"] == "ACME 服务号"
    assert cli_run("connection", "show", "nope").exit_code == 1
    assert cli_run("connection", "delete", "acme").exit_code == 0
    assert _count(app) == 0

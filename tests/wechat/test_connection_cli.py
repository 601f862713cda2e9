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


# --- secrets without the command line (SPEC §15: argv is readable by every local user in /proc/*/cmdline) ---


def _stored_secrets(app: Flask, identifier: str = "acme") -> tuple[str, str, str | None]:
    with app.app_context():
        row = db.session.scalar(db.select(Connection).where(Connection.identifier == identifier))
        assert row is not None
        found = connections.connection_secrets(app.config["SECRET_KEY"], row)
        return found.app_secret, found.token, found.encoding_aes_key


@pytest.mark.parametrize("flag", ["--app-secret", "--token", "--encoding-aes-key"])
@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_create_reads_one_secret_from_stdin_with_dash(cli_run: Any, app: Flask, flag: str, ending: str) -> None:
    value = {"--app-secret": SECRET, "--token": "MyToken123", "--encoding-aes-key": AES}[flag]
    result = cli_run(*_replace(BASE, flag, "-"), "--json", input=value + ending)
    assert result.exit_code == 0, result.output
    assert value not in result.output
    assert _stored_secrets(app) == (SECRET, "MyToken123", AES)


def test_create_reads_every_secret_from_files(cli_run: Any, app: Flask, tmp_path: Any) -> None:
    files = {}
    for name, value in (("secret", SECRET), ("token", "FileToken9"), ("aes", AES)):
        files[name] = tmp_path / name
        files[name].write_text(value + "\n")
    args = [a for a in _replace(_replace(_replace(BASE, "--app-secret", None), "--token", None),
                                "--encoding-aes-key", None)]
    result = cli_run(*args, "--app-secret-file", str(files["secret"]), "--token-file", str(files["token"]),
                     "--encoding-aes-key-file", str(files["aes"]), "--json")
    assert result.exit_code == 0, result.output
    assert _stored_secrets(app) == (SECRET, "FileToken9", AES)


def test_update_reads_a_secret_from_stdin_and_from_a_file(cli_run: Any, app: Flask, tmp_path: Any) -> None:
    assert cli_run(*BASE).exit_code == 0
    assert cli_run("connection", "update", "acme", "--token", "-", input="NewToken77\n").exit_code == 0
    path = tmp_path / "secret"
    path.write_text("f" * 32 + "\n")
    assert cli_run("connection", "update", "acme", "--app-secret-file", str(path)).exit_code == 0
    assert _stored_secrets(app) == ("f" * 32, "NewToken77", AES)


@pytest.mark.parametrize(
    ("extra", "stdin", "field"),
    [
        (["--app-secret", "-"], "", "app_secret"),
        (["--app-secret", "-"], "\n", "app_secret"),
        (["--token", "-"], "\r\n", "token"),
        (["--app-secret", "-", "--token", "-"], SECRET + "\n", "token"),
        (["--app-secret", SECRET, "--app-secret-file", "/etc/hostname"], None, "app_secret"),
        (["--token", "-", "--token-file", "/etc/hostname"], "MyToken123\n", "token"),
        (["--app-secret-file", "/nonexistent/secret"], None, "app_secret_file"),
        (["--app-secret-file", "/"], None, "app_secret_file"),
        (["--encoding-aes-key-file", ""], None, "encoding_aes_key_file"),
    ],
)
def test_unusable_secret_sources_exit_2_naming_the_field_and_write_nothing(
    cli_run: Any, app: Flask, extra: list[str], stdin: str | None, field: str
) -> None:
    args = list(BASE)
    for flag in {e.removesuffix("-file") for e in extra if e.startswith("--")}:
        args = _replace(args, flag, None)  # the secret comes only from where this case says
    result = cli_run(*args, *extra, "--json", input=stdin)
    assert result.exit_code == 2, result.output
    assert json.loads(result.output)["field"] == field
    assert _count(app) == 0
    update = cli_run("connection", "update", "nope", *extra, "--json", input=stdin)
    assert update.exit_code == 2, update.output  # input is judged before the connection is looked up


def test_empty_secret_file_and_binary_file_exit_2(cli_run: Any, app: Flask, tmp_path: Any) -> None:
    empty, binary = tmp_path / "empty", tmp_path / "binary"
    empty.write_text("\n")
    binary.write_bytes(b"\xff\xfe\x00abc")
    for path, field in ((empty, "app_secret"), (binary, "app_secret_file")):
        result = cli_run(*_replace(BASE, "--app-secret", None), "--app-secret-file", str(path), "--json")
        assert result.exit_code == 2, result.output
        assert json.loads(result.output)["field"] == field
    assert _count(app) == 0

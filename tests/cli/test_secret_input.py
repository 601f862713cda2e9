"""Secret options of `connection create|update` under hostile arguments and input (SPEC §4, §15): exit 0, 1 or
2 only, never a traceback, nothing written when refused, and the secret never echoed."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp_bridge.extensions import db
from idp_bridge.wechat.models import Connection
from tests.support.cli import assert_clean_exit

SECRET = "0123456789abcdef0123456789abcdef"
BASE = ["--identifier", "acme", "--display-name", "A", "--app-id", "wx0123456789abcdef", "--encryption",
        "plaintext"]
FLAGS = ["--app-secret", "--app-secret-file", "--token", "--token-file", "--encoding-aes-key",
         "--encoding-aes-key-file"]
VALUES = ["-", "", "\x00", "a\x00b", "/", "/dev/null", "/proc/self/cmdline", "/nonexistent", "../../etc/passwd",
          "-" * 3, "🙂", "A" * 5000, SECRET, "Token123"]


def _rows(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(db.select(db.func.count()).select_from(Connection)) or 0
        db.session.remove()
        return count


@pytest.mark.parametrize("flag", FLAGS)
@pytest.mark.parametrize("value", ["\x00", "a\x00b", "/", "", "A" * 5000, "/dev/null"])
def test_unusable_secret_paths_and_values_exit_2(cli_run: Any, app: Flask, flag: str, value: str) -> None:
    result = cli_run("connection", "create", *BASE, flag, value, "--json")
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output and _rows(app) == 0


def test_secret_options_survive_hostile_arguments(cli_run: Any, app: Flask) -> None:
    outcomes: list[int] = []

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(args=st.lists(st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES), st.text(max_size=20)),
                         max_size=6),
           stdin=st.one_of(st.none(), st.text(max_size=50), st.sampled_from([SECRET + "\n", "Token123\r\n", "\n"])),
           command=st.sampled_from(["create", "update"]))
    def attack(args: list[str], stdin: str | None, command: str) -> None:
        before = _rows(app)
        head = ["connection", "create", *BASE] if command == "create" else ["connection", "update", "acme"]
        result = cli_run(*head, *args, input=stdin)
        outcomes.append(result.exit_code)
        assert_clean_exit(result, args)
        if result.exit_code != 0:
            assert _rows(app) == before, args
        secret = (stdin or "").strip()
        if len(secret) >= 8 and not any(secret in a for a in args):  # click may echo an argument, never stdin
            assert secret not in result.output

    attack()
    assert 2 in outcomes

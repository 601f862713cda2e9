"""The admin CLI under hostile arguments: every command answers exit 0, 1 or 2 — never a traceback — and a
refused command (exit 1 or 2) writes nothing."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp_bridge.cli import cli
from tests.support.cli import assert_clean_exit
from tests.support.rows import row_counts

SKIP = {"serve", "demo", "run", "shell", "db"}  # servers, interactive shells, schema changes
ARG = st.one_of(st.text(max_size=40), st.sampled_from(
    ["--json", "--identifier", "--name", "--redirect-uri", "--app-id", "--token", "--encoding-aes-key",
     "--encryption", "--connection", "--web-origin", "--openid", "--since", "--limit", "-1", "99999999999",
     "2147483648",
     "javascript:alert(1)", "http://evil.example", "../../etc/passwd", "'; DROP TABLE users; --", "\x00", "🙂",
     "A" * 3000]))


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if name in SKIP:
            continue
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def _rows(app: Flask) -> dict[str, int]:
    return row_counts(app, ignore=("audit_events",))


def test_cli_survives_hostile_arguments(app: Flask, cli_run: Any) -> None:
    commands = _commands(cli)
    assert len(commands) >= 20
    tried: list[int] = []

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(args=st.lists(ARG, max_size=6))
    def attack(args: list[str]) -> None:
        for command in commands:
            before = _rows(app)
            result = cli_run(*command, *args)
            tried.append(1)
            assert_clean_exit(result, command, args)
            if result.exit_code != 0:
                assert _rows(app) == before, (command, args)

    attack()
    print(f"\nCLI bad-input battery: {len(tried)} invocations over {len(commands)} commands")


def test_a_row_id_beyond_sql_integer_is_a_usage_error(app: Flask, cli_run: Any) -> None:
    """Row ids are SQL INTEGER (PostgreSQL int4): one past 2**31 - 1 is refused by the argument's range, not
    sent to the database, which would fail with "integer out of range"."""
    result = cli_run("webhook", "redeliver", str(2**31))
    assert_clean_exit(result, ("webhook", "redeliver"), [str(2**31)])
    assert result.exit_code == 2 and "2147483648" in result.output, result.output

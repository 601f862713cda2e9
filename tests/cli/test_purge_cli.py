"""`idp-bridge purge [--json]` (SPEC §4, §15): counts per table, exit 2 for bad arguments with nothing deleted,
exit 1 when the database is unreachable, never a traceback under hostile arguments."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp_bridge import create_app, retention
from idp_bridge.cli import cli
from idp_bridge.extensions import db
from idp_bridge.oidc.models import PendingAuthorization
from idp_bridge.timeutil import utcnow
from tests.support.cli import assert_clean_exit


def _pending(app: Flask, expired: int, live: int) -> None:
    with app.app_context():
        now = utcnow()
        for i in range(expired + live):
            db.session.add(PendingAuthorization(
                id=f"p{i}", browser_digest="d" * 64, client_id="c", params={},
                expires_at=now - timedelta(hours=1) if i < expired else now + timedelta(minutes=10)))
        db.session.commit()
        db.session.remove()


def _remaining(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(db.select(db.func.count()).select_from(PendingAuthorization)) or 0
        db.session.remove()
        return count


def test_purge_json_reports_every_table(cli_run: Any, app: Flask) -> None:
    _pending(app, expired=7, live=2)
    result = cli_run("purge", "--json", "--batch", "3")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body["deleted"]) == {rule.name for rule in retention.RULES}
    assert body["deleted"]["pending_authorizations"] == 7 and body["total"] == 7
    assert _remaining(app) == 2


def test_purge_prints_counts_per_table(cli_run: Any, app: Flask) -> None:
    _pending(app, expired=1, live=0)
    result = cli_run("purge")
    assert result.exit_code == 0, result.output
    lines = dict(line.split() for line in result.output.splitlines())
    assert lines["pending_authorizations"] == "1" and lines["total"] == "1" and lines["tokens"] == "0"


@pytest.mark.parametrize("option", ["--batch", "--budget"])
@pytest.mark.parametrize("value", ["0", "-1", "²", "٣", "1" * 5000, "\x00", "1\x00", "99999999", "abc", "", " 5",
                                   "5 ", "0x10", "1e3", "+5"])
def test_bad_numbers_exit_2_naming_the_option_and_delete_nothing(cli_run: Any, app: Flask, option: str,
                                                                 value: str) -> None:
    _pending(app, expired=2, live=0)
    result = cli_run("purge", option, value, "--json")
    assert result.exit_code == 2, result.output
    # a NUL byte is refused for every command before parsing (tests/cli/test_nul_arguments.py)
    assert json.loads(result.output)["field"] == ("argument" if "\x00" in value else option[2:])
    assert _remaining(app) == 2


def test_unreachable_database_exits_1_without_traceback(app_config: dict[str, Any]) -> None:
    broken = create_app({**app_config, "database_url": "postgresql+psycopg://postgres@127.0.0.1:9/none"})
    result = CliRunner().invoke(cli, ["purge", "--json"], obj=ScriptInfo(create_app=lambda: broken))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "error" in json.loads(result.output)


HOSTILE = st.one_of(st.text(max_size=30), st.sampled_from(
    ["--json", "--batch", "--budget", "-", "--", "-1", "0", "10001", "99999999999999999999", "\x00", "²", "🙂",
     "--batch=1", "--budget=0", "A" * 3000, "%n%s", "'; DELETE FROM tokens; --"]))


def test_purge_survives_hostile_arguments(cli_run: Any, app: Flask) -> None:
    """Random argument lists: exit 0, 1 or 2 only, never a traceback; a refused run deletes nothing."""
    runs: list[int] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(args=st.lists(HOSTILE, max_size=5))
    def attack(args: list[str]) -> None:
        if _remaining(app) == 0:
            _pending(app, expired=1, live=0)
        before = _remaining(app)
        result = cli_run("purge", *args)
        runs.append(result.exit_code)
        assert_clean_exit(result, args)
        if result.exit_code != 0:
            assert _remaining(app) == before, args

    attack()
    assert 0 in runs and 2 in runs  # both outcomes were exercised

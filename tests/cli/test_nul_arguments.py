"""A NUL byte in any admin CLI argument is invalid input (SPEC §4 exit 2), on PostgreSQL too, where psycopg
would otherwise raise ``DataError`` ("text fields cannot contain NUL") out of the command as a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.support.rows import row_counts

NUL = "a\x00b"
COMMANDS = [
    ["user", "show", NUL], ["user", "block", NUL], ["user", "unblock", NUL], ["user", "delete", NUL],
    ["user", "invite", NUL], ["user", "create", "--name", NUL],
    ["user", "create", "--openid", NUL, "--connection", "x"],
    ["connection", "show", NUL], ["connection", "delete", NUL], ["connection", "update", NUL, "--display-name", "x"],
    ["client", "show", NUL], ["client", "delete", NUL], ["client", "rotate-secret", NUL],
    ["audit", "--action", NUL], ["purge", "--batch", NUL], ["keys", "list", NUL],
]


def _rows(app: Flask) -> dict[str, int]:
    return row_counts(app)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("as_json", [False, True])
def test_nul_in_an_argument_exits_2_and_writes_nothing(cli_run: Any, app: Flask, args: list[str],
                                                      as_json: bool) -> None:
    before = _rows(app)
    result = cli_run(*args, *(["--json"] if as_json else []))
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if as_json:
        assert json.loads(result.output)["field"] == "argument"
    assert _rows(app) == before

"""Log forging (SPEC §15: "nothing that reaches a log line can start a new line"; OWASP CWE-117).

Control characters in anything we log — the message, its arguments, an exception's text — are escaped by the
application's text and JSON formatters, and by the access log of ``idp-bridge serve`` (gunicorn logs the
decoded path, ``%(U)s``). A request with CR/LF in its path leaves no forged line in either.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from idp_bridge import create_app
from idp_bridge.logging_setup import JsonFormatter, TextFormatter
from tests.conftest import TEST_SECRET_KEY
from tests.production.conftest import migrated_env, running_serve

FORGED = "2026-01-01 00:00:00,000 ERROR idp_bridge.admin [-] FORGED admin signed in"
HOSTILE = f"x\r\n{FORGED}\n\x1b[2J\x00\x85next\u2028{FORGED}\u2029end"
CLI = str(Path(sys.executable).with_name("idp-bridge"))


def _record(msg: str, *args: Any, exc: BaseException | None = None) -> logging.LogRecord:
    record = logging.LogRecord("idp_bridge.test", logging.ERROR, __file__, 1, msg, args,
                               (type(exc), exc, exc.__traceback__) if exc else None)
    record.request_id = "abc"
    return record


def _lines(text: str) -> list[str]:
    """Lines as every common reader splits them (Python's splitlines also breaks on NEL, U+2028, U+2029)."""
    return text.splitlines()


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_formatters_escape_control_characters_in_message_and_arguments(formatter: logging.Formatter) -> None:
    out = formatter.format(_record("refused %s on " + HOSTILE, HOSTILE))
    assert len(_lines(out)) == 1, out
    assert not any(line.startswith("2026-01-01") for line in _lines(out))
    if isinstance(formatter, JsonFormatter):
        assert "FORGED" in json.loads(out)["message"]
    else:
        assert "\\r\\n" in out and "\\x1b" in out and "\\x00" in out and "\\u2028" in out


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_exceptions_cannot_start_a_forged_line(formatter: logging.Formatter) -> None:
    """A traceback spans lines, but an attacker's text inside it never begins one of its own."""
    try:
        raise ValueError(HOSTILE)
    except ValueError as error:
        out = formatter.format(_record("unhandled error on %s", "/login/x", exc=error))
    lines = _lines(out)
    assert not any(line.startswith(("2026-01-01", "FORGED")) for line in lines), lines
    if isinstance(formatter, JsonFormatter):
        assert len(lines) == 1 and "Traceback" in json.loads(out)["exception"]
    else:
        assert lines[0].startswith(time.strftime("%Y")) and all(line.startswith(" ") for line in lines[1:]), lines


def test_the_app_installs_the_escaping_formatter(app: Flask, live_url: str) -> None:
    """Through the real handler: a request with CR/LF in its path produces no forged line."""
    handler = next(h for h in logging.getLogger("idp_bridge").handlers if getattr(h, "_idp_bridge", False))
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(handler.formatter)
    for log_filter in handler.filters:
        capture.addFilter(log_filter)
    logging.getLogger("idp_bridge").addHandler(capture)
    try:
        response = requests.get(f"{live_url}/login/x%0d%0a{requests.utils.quote(FORGED)}", timeout=10)
        logging.getLogger("idp_bridge.test").error("path was %s", "/login/x\r\n" + FORGED)
    finally:
        logging.getLogger("idp_bridge").removeHandler(capture)
    assert response.status_code == 400
    assert isinstance(handler.formatter, TextFormatter)
    lines = _lines(buffer.getvalue())
    assert lines and not any("FORGED" in line and not line.startswith(time.strftime("%Y")) for line in lines), lines


def test_json_log_format_installs_the_escaping_json_formatter(tmp_path: Path) -> None:
    try:
        create_app({"database_url": "sqlite://", "instance_dir": tmp_path, "secret_key": TEST_SECRET_KEY,
                    "log_format": "json"})
        handler = next(h for h in logging.getLogger("idp_bridge").handlers if getattr(h, "_idp_bridge", False))
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        create_app({"database_url": "sqlite://", "instance_dir": tmp_path, "secret_key": TEST_SECRET_KEY})


@pytest.mark.slow
def test_serve_access_log_has_no_forged_line(empty_database_url: str, tmp_path: Path) -> None:
    """`idp-bridge serve` (gunicorn): the access log's decoded path and the error log are escaped too."""
    env, port = migrated_env(empty_database_url, tmp_path)
    out_path, err_path = tmp_path / "out.log", tmp_path / "err.log"
    with out_path.open("wb") as out, err_path.open("wb") as err, \
            running_serve(env, port, "--workers", "1", output=(out, err)) as served:
        forged = requests.utils.quote(FORGED)
        for target in (f"/login/x%0d%0a{forged}", f"/x%0a{forged}", f"/oauth/authorize%e2%80%a8{forged}"):
            assert requests.get(f"{served.url}{target}", timeout=10).status_code in (400, 404)
        time.sleep(0.5)
    logged = out_path.read_text("utf-8", "replace") + err_path.read_text("utf-8", "replace")
    assert logged.count("FORGED") == 3, logged
    assert not any(line.startswith(("2026-01-01", "FORGED")) for line in _lines(logged)), logged

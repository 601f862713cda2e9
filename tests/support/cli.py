"""The contract of every admin command under hostile arguments (SPEC §4, §11): exit 0, 1 or 2, never an
uncaught exception or a traceback."""

from __future__ import annotations

from typing import Any

from click.testing import Result


def assert_clean_exit(result: Result, *context: Any) -> None:
    assert result.exit_code in (0, 1, 2), (*context, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (*context, result.exception)
    assert "Traceback" not in result.output

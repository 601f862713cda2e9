"""Shared CLI conventions (SPEC §4): ``--json`` prints exactly one JSON object; exit 0 on success,
2 on invalid input (message names the field and rule, nothing written), 1 on other failures."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class CliInvalid(click.ClickException):
    """Invalid input: exit code 2, message names the field and the rule."""

    exit_code = 2

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class CliFailure(click.ClickException):
    """Anything else that went wrong (not found, database down): exit code 1."""

    exit_code = 1


def json_option(func: F) -> F:
    """Add ``--json`` to a command; the flag arrives as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")(func)


def emit(payload: dict[str, Any], as_json: bool, human: str | None = None) -> None:
    """Print the result either as one JSON object or as readable text."""
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False, default=str))
        return
    if human is not None:
        click.echo(human)
        return
    width = max((len(k) for k in payload), default=0)
    for key, value in payload.items():
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value) or "-"
        click.echo(f"{key.ljust(width)}  {value}")


def json_errors(func: F) -> F:
    """With ``--json``, errors are also one JSON object (on stdout) so scripts can parse them."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except click.ClickException as exc:
            if kwargs.get("as_json"):
                body: dict[str, Any] = {"error": exc.format_message()}
                if isinstance(exc, CliInvalid):
                    body.update(field=exc.field, rule=exc.rule)
                click.echo(json.dumps(body, ensure_ascii=False))
                sys.exit(exc.exit_code)
            raise

    return wrapper  # type: ignore[return-value]

"""Helpers shared by the admin command modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from idp_bridge.cli.output import CliInvalid
from idp_bridge.config import current_settings
from idp_bridge.validation import ValidationError


def issuer() -> str:
    return str(current_settings().issuer)


@contextmanager
def invalid_input() -> Iterator[None]:
    """Turn a domain ``ValidationError`` into the CLI's exit-2 error naming the field."""
    try:
        yield
    except ValidationError as exc:
        raise CliInvalid(exc.field, exc.rule) from None


def loader(find: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    from idp_bridge.cli.output import CliFailure

    def load(key: str) -> Any:
        row = find(key)
        if row is None:
            raise CliFailure(f"no {what} '{key}'")
        return row

    return load

"""Random public identifiers (client ids, subjects) that also work as command-line arguments."""

from __future__ import annotations

import secrets


def random_id(nbytes: int = 16) -> str:
    """``nbytes`` random bytes, URL-safe (RFC 4648 §5), never starting with ``-``: an identifier that starts
    with a dash is read as an option by every CLI (``idp-bridge client delete -x…``). Redrawing keeps the
    distribution uniform over the allowed values."""
    while True:
        value = secrets.token_urlsafe(nbytes)
        if not value.startswith("-"):
            return value

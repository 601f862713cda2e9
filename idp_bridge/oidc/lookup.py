"""Identifiers taken from a request, checked before they reach a database query.

PostgreSQL refuses NUL in text (psycopg ``DataError``) and cannot store lone surrogates; SPEC §15 asks that
malformed input is refused with a 4xx on both databases. Every identifier this provider issues (client ids,
pending-authorization ids, ``sid`` values) is URL-safe base64 (RFC 4648 §5), so a value outside printable
ASCII cannot name a row: it is treated as unknown without asking the database.
"""

from __future__ import annotations


def lookup_key(value: object, max_length: int = 64) -> str | None:
    """``value`` if it can be an identifier we issued (1..max_length printable ASCII), else None."""
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        return None
    if not all("!" <= ch <= "~" for ch in value):
        return None
    return value


def has_control_characters(text: str) -> bool:
    """C0 controls (NUL, CR, LF…) and DEL: never part of a valid OAuth parameter (RFC 6749 Appendix A uses
    printable characters only) and unsafe in logs and database text."""
    return any(ch < " " or ch == "\x7f" for ch in text)

"""Integers from untrusted text: ASCII digits only, bounded length and value.

``str.isdigit`` and ``int()`` accept Unicode digits ("²", "١") and unbounded lengths (CPython refuses
more than 4,300 digits with a ``ValueError``); every number read from a request goes through here instead.
"""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")
#: The largest row id: primary keys are SQL INTEGER, 32-bit on PostgreSQL (int4). A larger id names no row,
#: and the database would refuse it with an error rather than find nothing.
ROW_ID_MAX = 2**31 - 1


class BadNumber(ValueError):
    """The text is not a plain non-negative ASCII integer within the allowed range."""


def parse_int(raw: str | None, *, minimum: int = 0, maximum: int = 10**18 - 1) -> int:
    """``raw`` as an int in ``[minimum, maximum]``; raises :class:`BadNumber` otherwise."""
    if raw is None or not _ASCII_DIGITS.fullmatch(raw):
        raise BadNumber("expected a non-negative integer in ASCII digits")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise BadNumber(f"expected an integer between {minimum} and {maximum}")
    return value


def parse_int_or(raw: str | None, default: int, *, minimum: int = 0, maximum: int = 10**18 - 1) -> int:
    """Like :func:`parse_int` but ``default`` for anything unusable (for optional hints such as
    ``Last-Event-ID``, where a bad value means "start afresh")."""
    try:
        return parse_int(raw, minimum=minimum, maximum=maximum)
    except BadNumber:
        return default

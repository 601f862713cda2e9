"""Integers from untrusted text (SPEC §15: non-ASCII digits and over-long numbers are refused).

``str.isdigit`` and ``int`` accept "²", "١" and "５", and ``int`` refuses more than 4,300 digits with a
``ValueError``; :mod:`idp_bridge.numbers` accepts plain ASCII digits within bounds only.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp_bridge.numbers import BadNumber, parse_int, parse_int_or


@pytest.mark.parametrize("raw", ["0", "7", "3600", "000042", "9" * 18])
def test_plain_ascii_integers_are_accepted(raw: str) -> None:
    assert parse_int(raw) == int(raw)


@pytest.mark.parametrize("raw", [None, "", "²", "١", "５", "߀", "1²", "-1", "+1", " 1", "1 ", "1\n", "\t1", "1_000",
                                 "0x10", "1e3", "1.0", "１２", "9" * 19, "9" * 5000, "\x00", "1\x00"])
def test_anything_else_is_refused(raw: str | None) -> None:
    with pytest.raises(BadNumber):
        parse_int(raw)


def test_bounds_are_inclusive() -> None:
    assert parse_int("5", minimum=5, maximum=5) == 5
    with pytest.raises(BadNumber):
        parse_int("4", minimum=5)
    with pytest.raises(BadNumber):
        parse_int("2147483648", maximum=2**31 - 1)


def test_default_for_unusable_hints() -> None:
    """``Last-Event-ID`` and similar hints: a bad value means "start afresh", never an error."""
    assert parse_int_or("12", -1) == 12
    assert parse_int_or("²", -1) == -1
    assert parse_int_or("9" * 5000, -1) == -1
    assert parse_int_or(None, -1) == -1
    assert parse_int_or("99", -1, maximum=10) == -1


@given(st.text(max_size=30))
def test_any_text_is_either_a_bounded_ascii_integer_or_refused(raw: str) -> None:
    try:
        value = parse_int(raw, maximum=10**9)
    except BadNumber:
        assert not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 and int(raw) <= 10**9)
    else:
        assert raw.isascii() and raw.isdigit() and value == int(raw) and 0 <= value <= 10**9

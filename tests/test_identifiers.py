"""Client ids and subjects never start with a dash, so every CLI command accepts them as arguments."""

from __future__ import annotations

from idp_bridge.identifiers import random_id


def test_random_ids_never_start_with_a_dash_and_keep_their_length() -> None:
    values = [random_id(16) for _ in range(5000)]  # ~78 of these would start with "-" without the redraw
    assert not any(v.startswith("-") for v in values)
    assert {len(v) for v in values} == {22} and len(set(values)) == 5000

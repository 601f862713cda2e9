"""Streaming CSV exports (SPEC §12: users and audit log): rows are read in keyset batches and written as they
come, so an export of 100,000 rows never holds the table in memory. Cells that a spreadsheet would run as a
formula are prefixed with ``'`` (OWASP "CSV Injection")."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from flask import stream_with_context
from werkzeug.wrappers import Response

BATCH = 1000


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def batches(fetch: Callable[[int, int], list[Any]], key: Callable[[Any], int]) -> Iterator[Any]:
    """Every row of ``fetch(before, limit)`` (newest first), one keyset page at a time."""
    before = 0
    while True:
        page = fetch(before, BATCH)
        yield from page
        if len(page) < BATCH:
            return
        before = key(page[-1])


def stream(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    return Response(stream_with_context(_lines(header, rows)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

"""Count what a request costs the database: statements and committed transactions, from SQLAlchemy's own
engine events (so every path — ORM, Core, text — is seen, on SQLite and PostgreSQL alike)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Tally:
    """Statements (their SQL, for the failure message) and commits seen while counting."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0

    def report(self) -> str:
        return f"{len(self.statements)} statements, {self.commits} commits:\n" + "\n".join(
            " ".join(sql.split())[:160] for sql in self.statements)


@contextmanager
def counting(engine: Engine, *, thread: int | None = None) -> Iterator[Tally]:
    """Count on ``engine`` inside the block: in every thread (the live server runs in this process), or only
    in ``thread`` (a ``threading.get_ident()``) when other threads' work is not the subject."""
    tally = Tally()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if thread is None or threading.get_ident() == thread:
            tally.statements.append(statement)

    def on_commit(_conn: Any) -> None:
        if thread is None or threading.get_ident() == thread:
            tally.commits += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield tally
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)

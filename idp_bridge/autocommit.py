"""Single statements outside any transaction, for hot paths whose database work is one statement at a time.

A read through the request's session opens a transaction: psycopg sends ``BEGIN`` before the statement and the
session's teardown sends ``ROLLBACK``, two round trips and two PostgreSQL commands around the one that matters.
A lone SELECT sees one consistent snapshot anyway (PostgreSQL docs, "Transaction Isolation": every statement
runs in its own snapshot), so running it in autocommit changes nothing but the cost.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, overload

from sqlalchemy import Connection, Executable, Row
from sqlalchemy.orm import Session

from idp_bridge.extensions import db
from idp_bridge.plainsql import Plain

Statement = Executable | Plain


@contextmanager
def _executor(*, commit: bool = False) -> Iterator[Session | Connection]:
    """Where one statement runs: the request's session when it has a transaction open (then the statement
    joins it: it is paid for, it sees what the request wrote, and — with an in-memory SQLite database, whose
    one connection every checkout shares — switching that connection to autocommit would commit the open
    transaction under the session; ``commit`` commits it afterwards), else a pooled connection in autocommit.
    A request that has not used its session yet has none to join, and none is made just to ask."""
    session = db.session() if db.session.registry.has() else None
    if session is not None and session.in_transaction():
        yield session
        if commit:
            session.commit()
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


def _connection(run: Session | Connection) -> Connection:
    return run.connection() if isinstance(run, Session) else run


@overload
def first(statement: Plain, params: Mapping[str, Any]) -> Sequence[Any] | None: ...
@overload
def first(statement: Executable, params: Mapping[str, Any]) -> Row[Any] | None: ...
def first(statement: Statement, params: Mapping[str, Any]) -> Row[Any] | Sequence[Any] | None:
    """The first row of ``statement`` (a Core SELECT), read on a pooled connection in autocommit."""
    with _executor() as run:
        if isinstance(statement, Plain):
            return statement.first(_connection(run), params)
        return run.execute(statement, params).first()


def rows(statement: Statement, params: Mapping[str, Any]) -> list[Any]:
    """Every row of ``statement`` (a Core SELECT), read on a pooled connection in autocommit."""
    with _executor() as run:
        if isinstance(statement, Plain):
            return statement.rows(_connection(run), params)
        return list(run.execute(statement, params).all())


def write(statement: Statement, params: Mapping[str, Any]) -> int:
    """Run one write (a Core INSERT/UPDATE) in the request's transaction if it has one, so that it commits with
    what is already pending there; otherwise on its own in autocommit, where the statement is its own
    transaction (no BEGIN and COMMIT round trips). Returns the number of rows written."""
    with _executor(commit=True) as run:
        if isinstance(statement, Plain):
            return statement.run(_connection(run), params)
        return int(run.execute(statement, params).rowcount)  # type: ignore[attr-defined]

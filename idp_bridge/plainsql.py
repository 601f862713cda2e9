"""The SSO path's statements sent straight to psycopg's cursor, compiled once (SPEC §16).

SQLAlchemy's Core execution costs about 40 µs of CPU per statement above psycopg's own (building an execution
context, a cursor result, row processors), roughly as much again as the statement itself; on the SSO path, which
is a handful of statements per login, that was a tenth of the server's CPU. A :class:`Plain` statement is an
ordinary Core statement — written, reviewed and migrated like any other — whose SQL text is compiled once per
dialect and then handed to the driver as it is:

* only on PostgreSQL through psycopg; on any other dialect (SQLite, the embedded default) it runs through Core
  exactly as before, so both paths are exercised by the whole suite;
* no type processing: parameters must already be what the driver takes and the selected columns must need no
  result processing. A statement with a parameter or a selected column whose type processes values (JSON, a
  decorated type), or a write that would need a Python-side default, is refused when it is first compiled, not
  silently mis-written or mis-read. The exceptions are parameters of types whose processing only checks a
  value psycopg sends as it is: a Python ``bool`` for ``Boolean``, and for
  :class:`~idp_bridge.dbtypes.UTCDateTime` a timezone-aware datetime (what :func:`idp_bridge.timeutil.utcnow`
  gives), which psycopg sends as the same instant the decorator would. Literals in the statement are bound
  from the compiled values;
* the engine's ``before_cursor_execute`` listeners still see each statement (instrumentation, and the tests that
  count statements), and a driver error goes through SQLAlchemy's own handling, so a dead connection is
  invalidated with its pool and the error is the usual ``sqlalchemy.exc.DBAPIError``;
* it runs on a SQLAlchemy ``Connection`` (the session's, inside its transaction, or an autocommit one), so the
  pool, transactions and commits stay SQLAlchemy's; writes to tables whose caches are watched
  (:mod:`idp_bridge.cache`) are refused, because the session hook that bumps their version would not see them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, Connection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import UpdateBase

from idp_bridge.cache.versions import kinds_of
from idp_bridge.dbtypes import UTCDateTime

DRIVER = "psycopg"
#: Types whose bind processing only checks or normalises a value that psycopg already sends as the same thing.
DRIVER_NATIVE = (Boolean, UTCDateTime)


_CURSOR = "idpb_plain_cursor"


class NotPlain(TypeError):
    """The statement needs SQLAlchemy's processing and cannot be sent to the driver as it is."""


def _cursor(connection: Connection) -> Any:
    """The psycopg cursor kept with the pooled connection (making one per statement costs as much as the
    statement's own Python work in psycopg); a connection serves one thread at a time, and every result is read
    before the next statement."""
    pooled = connection.connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.closed or cursor.connection is not pooled.driver_connection:
        cursor = pooled.info[_CURSOR] = pooled.driver_connection.cursor()  # type: ignore[union-attr]
    return cursor


class Plain:
    """A Core statement and, per dialect, the SQL text psycopg is given for it."""

    def __init__(self, statement: Executable, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        table = getattr(statement, "table", None)
        if isinstance(statement, UpdateBase) and kinds_of(str(getattr(table, "name", ""))):
            raise NotPlain(f"writes to {getattr(table, 'name', '')} must go through the session (cache versions)")
        self._sql: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def sql(self, connection: Connection) -> tuple[str, dict[str, Any]]:
        """The SQL text for this connection's dialect, and the values of the literals it binds."""
        return self.sql_for(connection.dialect)

    def sql_for(self, dialect: Any) -> tuple[str, dict[str, Any]]:
        """The SQL text for ``dialect``, and the values of the literals it binds."""
        found = self._sql.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._sql[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Any) -> tuple[str, dict[str, Any]]:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.column_keys)  # type: ignore[attr-defined]
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise NotPlain("the statement needs Python-side column defaults: pass every column")
        for bind, name in compiled.bind_names.items():
            native = isinstance(bind.type, DRIVER_NATIVE)
            if not native and bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise NotPlain(f"parameter {name} needs bind processing ({type(bind.type).__name__})")
        literals = {name: bind.effective_value for bind, name in compiled.bind_names.items() if not bind.required}
        for column in getattr(compiled, "_result_columns", ()):
            column_type = column[3]
            if column_type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                raise NotPlain(f"column {column[0]} needs result processing ({type(column_type).__name__})")
        return str(compiled), literals

    # --- running ---------------------------------------------------------------------------------------------
    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Every row (tuples on psycopg, ``Row``s elsewhere: both index alike)."""
        if connection.dialect.driver != DRIVER:
            return list(connection.execute(self.statement, dict(params)).all())
        return list(self._execute(connection, params).fetchall())

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Sequence[Any] | None:
        if connection.dialect.driver != DRIVER:
            return connection.execute(self.statement, dict(params)).first()
        row: Sequence[Any] | None = self._execute(connection, params).fetchone()
        return row

    def run(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run a write; returns the row count."""
        if connection.dialect.driver != DRIVER:
            return int(connection.execute(self.statement, dict(params)).rowcount)
        return int(self._execute(connection, params).rowcount)

    def _execute(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        sql, literals = self.sql(connection)
        if literals:
            params = {**literals, **params}
        cursor = _cursor(connection)
        if connection.dispatch.before_cursor_execute:  # as Connection._execute_context calls them
            for listener in connection.dispatch.before_cursor_execute:
                sql, params = listener(connection, cursor, sql, params, None, False)
        try:
            cursor.execute(sql, params)
        except Exception as error:  # the driver's error, as SQLAlchemy would raise and handle it
            connection._handle_dbapi_exception(error, sql, params, cursor, None)  # noqa: SLF001
        return cursor

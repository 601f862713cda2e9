"""Single reads outside any transaction, for hot paths whose whole database work is one SELECT.

A read through the request's session opens a transaction: psycopg sends ``BEGIN`` before the statement and the
session's teardown sends ``ROLLBACK``, two round trips and two PostgreSQL commands around the one that matters.
A lone SELECT sees one consistent snapshot anyway (PostgreSQL docs, "Transaction Isolation": every statement
runs in its own snapshot), so running it in autocommit changes nothing but the cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Executable, Row

from idp_bridge.extensions import db


def first(statement: Executable, params: Mapping[str, Any]) -> Row[Any] | None:
    """The first row of ``statement`` (a Core SELECT), read on a pooled connection in autocommit."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(statement, params).first()

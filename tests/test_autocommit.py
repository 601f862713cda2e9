"""``idp_bridge.autocommit`` on both databases: a lone statement runs outside a transaction only when the request
has none open; otherwise it joins the open one (sees its writes, commits or rolls back with it)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import bindparam, insert, select

from idp_bridge import autocommit
from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow

_TABLE = AuditEvent.__table__
_BY_ACTION = select(_TABLE.c.action).where(_TABLE.c.action == bindparam("action"))


def _insert(action: str) -> object:
    return insert(_TABLE).values(at=utcnow(), action=action, actor="test", target="", outcome="ok", details={})


def _seen_elsewhere(app: Flask, action: str) -> bool:
    """Whether another connection (a new app context, so a new session) sees ``action`` committed."""
    with app.app_context():
        try:
            return db.session.execute(_BY_ACTION, {"action": action}).first() is not None
        finally:
            db.session.remove()


def test_a_read_outside_a_transaction_leaves_none_open(app: Flask) -> None:
    with app.app_context():
        assert autocommit.first(_BY_ACTION, {"action": "nothing"}) is None
        assert autocommit.rows(_BY_ACTION, {"action": "nothing"}) == []
        assert not db.session().in_transaction()


def test_a_read_inside_a_transaction_joins_it(app: Flask) -> None:
    with app.app_context():
        db.session.execute(_insert("pending.read"))  # opens the request's transaction, not committed
        assert autocommit.first(_BY_ACTION, {"action": "pending.read"}) is not None
        assert len(autocommit.rows(_BY_ACTION, {"action": "pending.read"})) == 1
        assert db.session().in_transaction()
        db.session.rollback()  # the read committed nothing under the session
        assert autocommit.first(_BY_ACTION, {"action": "pending.read"}) is None
    assert not _seen_elsewhere(app, "pending.read")


def test_a_write_outside_a_transaction_is_its_own(app: Flask) -> None:
    with app.app_context():
        autocommit.write(_insert("alone"), {})
        assert not db.session().in_transaction()
    assert _seen_elsewhere(app, "alone")


def test_a_write_inside_a_transaction_commits_what_is_pending_with_it(app: Flask) -> None:
    with app.app_context():
        db.session.execute(_insert("first"))
        autocommit.write(_insert("second"), {})
        assert not db.session().in_transaction()
    assert _seen_elsewhere(app, "first") and _seen_elsewhere(app, "second")

"""``idp_bridge.plainsql`` on both databases: a :class:`Plain` statement answers what its Core statement answers,
is seen by the engine's listeners, raises SQLAlchemy's errors and recovers from a dead connection, and refuses
at compile time (on psycopg, where it bypasses Core) the statements whose values would need SQLAlchemy's
processing. On SQLite the same statements run through Core, processing included."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import bindparam, event, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from idp_bridge import create_app
from idp_bridge.accounts.models import User
from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.oidc.models import Client, SsoSession
from idp_bridge.plainsql import DRIVER, NotPlain, Plain
from idp_bridge.timeutil import utcnow
from tests.conftest import TEST_SECRET_KEY, throwaway_pg_database
from tests.support.statements import counting

_USERS = User.__table__
_BY_NAME = select(_USERS.c.id, _USERS.c.sub, _USERS.c.blocked).where(_USERS.c.name == bindparam("name"))
_AUDIT = AuditEvent.__table__
_RETARGET = update(_AUDIT).where(_AUDIT.c.action == bindparam("b_action")).values(target=bindparam("b_target"))
_INSERT_USER = insert(_USERS)
_USER_COLUMNS = ("sub", "name", "blocked", "created_at", "updated_at")


def _add_users(*names: str) -> None:
    for name in names:
        db.session.add(User(name=name))
    db.session.commit()


def _user(sub: str, name: str) -> dict[str, object]:
    return {"sub": sub, "name": name, "blocked": False, "created_at": utcnow(), "updated_at": utcnow()}


def _plain_driver() -> bool:
    return db.session.connection().dialect.driver == DRIVER


def test_rows_first_and_run_answer_as_core_does(app: Flask) -> None:
    with app.app_context():
        _add_users("ann", "bob")
        core = [tuple(r) for r in db.session.execute(_BY_NAME, {"name": "ann"}).all()]
        connection = db.session.connection()
        assert [tuple(r) for r in Plain(_BY_NAME).rows(connection, {"name": "ann"})] == core
        first = Plain(_BY_NAME).first(connection, {"name": "ann"})
        assert first is not None and tuple(first) == core[0]
        assert Plain(_BY_NAME).first(connection, {"name": "nobody"}) is None
        assert Plain(_BY_NAME).rows(connection, {"name": "nobody"}) == []
        literal = Plain(select(_USERS.c.name).where(_USERS.c.name == "bob"))  # a literal is bound as compiled
        assert [tuple(r) for r in literal.rows(connection, {})] == [("bob",)]


def test_writes_with_every_column_given_land(app: Flask) -> None:
    with app.app_context():
        connection = db.session.connection()
        Plain(_INSERT_USER, column_keys=_USER_COLUMNS).run(connection, _user("s-plain", "plain"))
        db.session.add(AuditEvent(action="plain.test", actor="t", target="a"))
        db.session.flush()
        assert Plain(_RETARGET).run(connection, {"b_action": "plain.test", "b_target": "b"}) == 1
        db.session.commit()
        assert db.session.scalar(select(User.sub).where(User.name == "plain")) == "s-plain"
        written = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "plain.test"))
        assert written is not None and written.target == "b" and written.at.tzinfo is not None


def test_the_engines_listeners_see_each_statement(app: Flask) -> None:
    with app.app_context():
        _add_users("carl")
        with counting(db.engine) as tally:
            Plain(_BY_NAME).rows(db.session.connection(), {"name": "carl"})
        assert len(tally.statements) == 1 and "FROM users" in tally.statements[0]


def test_a_listener_that_rewrites_the_statement_is_obeyed(app: Flask) -> None:
    """``retval=True`` listeners may change what is sent (SQLAlchemy's contract); the change is honoured."""
    def rewrite(_conn: object, _cursor: object, statement: str, parameters: object, *_rest: object) -> object:
        return statement.replace("users.name = ", "users.name <> "), parameters

    with app.app_context():
        _add_users("dora", "ed")
        engine = db.engine
        event.listen(engine, "before_cursor_execute", rewrite, retval=True)
        try:
            names = Plain(_BY_NAME).rows(db.session.connection(), {"name": "dora"})
        finally:
            event.remove(engine, "before_cursor_execute", rewrite)
        assert len(names) == 1


def test_a_driver_error_is_sqlalchemys_and_the_session_rolls_back(app: Flask) -> None:
    with app.app_context():
        _add_users("fay")
        taken = str(db.session.scalar(select(User.sub).where(User.name == "fay")))
        with pytest.raises(IntegrityError):
            Plain(_INSERT_USER, column_keys=_USER_COLUMNS).run(db.session.connection(), _user(taken, "dup"))
        db.session.rollback()
        assert Plain(_BY_NAME).first(db.session.connection(), {"name": "fay"}) is not None


def test_a_killed_connection_is_invalidated_and_the_next_statement_gets_a_live_one(tmp_path: Path) -> None:
    """As with Core: the driver's error says the connection is gone, the pool drops it, the retry works."""
    with throwaway_pg_database("idp_plain") as url:
        app = create_app({"database_url": url, "instance_dir": tmp_path, "secret_key": TEST_SECRET_KEY})
        with app.app_context():
            db.create_all()
            _add_users("gus")
            connection = db.session.connection()
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(OperationalError) as raised:
                Plain(_BY_NAME).rows(connection, {"name": "gus"})
            assert raised.value.connection_invalidated
            db.session.rollback()
            assert Plain(_BY_NAME).first(db.session.connection(), {"name": "gus"}) is not None
            db.session.remove()
            db.engine.dispose()


def test_a_column_that_needs_result_processing_is_refused_where_it_would_be_skipped(app: Flask) -> None:
    """UTCDateTime makes values aware UTC; sent plain, the value would come back unprocessed."""
    statement = Plain(select(SsoSession.__table__.c.expires_at))
    with app.app_context():
        if _plain_driver():
            with pytest.raises(NotPlain, match="expires_at"):
                statement.rows(db.session.connection(), {})
        else:  # through Core, with its processing
            assert statement.rows(db.session.connection(), {}) == []


def test_a_parameter_that_needs_bind_processing_is_refused_where_it_would_be_skipped(app: Flask) -> None:
    statement = Plain(update(_AUDIT).where(_AUDIT.c.action == "none").values(details=bindparam("details")))
    with app.app_context():
        if _plain_driver():
            with pytest.raises(NotPlain, match="details"):
                statement.run(db.session.connection(), {"details": {"a": 1}})
        else:
            assert statement.run(db.session.connection(), {"details": {"a": 1}}) == 0


def test_a_write_that_needs_a_python_default_is_refused_where_it_would_be_skipped(app: Flask) -> None:
    inserting = Plain(insert(_USERS), column_keys=("name",))  # sub and the times have Python defaults
    renaming = Plain(update(_USERS).values(name=bindparam("b_name")))  # updated_at has an onupdate
    with app.app_context():
        if _plain_driver():
            with pytest.raises(NotPlain, match="defaults"):
                inserting.run(db.session.connection(), {"name": "x"})
            with pytest.raises(NotPlain, match="defaults"):
                renaming.run(db.session.connection(), {"b_name": "y"})
        else:  # Core fills the defaults
            inserting.run(db.session.connection(), {"name": "x"})
            created = db.session.scalar(select(User.created_at).where(User.name == "x"))
            assert isinstance(created, datetime)
            assert renaming.run(db.session.connection(), {"b_name": "y"}) == 1


def test_writes_to_a_cached_table_are_refused() -> None:
    """The cache's session hook bumps versions for writes it sees; a plain write would bypass it."""
    with pytest.raises(NotPlain, match="clients"):
        Plain(update(Client.__table__).values(name="x"))
    Plain(select(Client.__table__.c.name))  # reading is fine
    Plain(update(_AUDIT).values(actor="x"))  # not a cached table

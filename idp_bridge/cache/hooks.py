"""Session hooks that turn every write to a watched table into a version bump in the same transaction.

Registered once on SQLAlchemy's ``Session`` class, so every session sees them — the request's, the CLI's, a
background thread's. Writes that bypass the session (raw DBAPI cursors) are not seen; nothing in idp-bridge
writes watched tables that way.
"""

from __future__ import annotations

from sqlalchemy import event, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from idp_bridge.cache.listener import CHANNEL
from idp_bridge.cache.models import CacheVersion
from idp_bridge.cache.versions import database_key, kinds_of, versions_for

_PENDING = "idpb_cache_kinds"
_DATABASE = "idpb_cache_database"


def _note(session: Session, table_name: str | None) -> None:
    if table_name and (kinds := kinds_of(table_name)):
        session.info.setdefault(_PENDING, set()).update(kinds)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__table__", None)
        _note(session, getattr(table, "name", None))


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        _note(state.session, getattr(table, "name", None))


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    """Bump the versions inside the transaction that made the change, so no reader can see the new rows with
    the old version (PostgreSQL's NOTIFY, sent here, is delivered at commit and only if it commits)."""
    session.flush()  # the commit's own flush comes after this hook: what it would write must be seen now
    kinds = session.info.get(_PENDING)
    if not kinds:
        return
    bind = session.get_bind()
    dialect = bind.dialect.name
    for kind in sorted(kinds):  # one order everywhere: concurrent writers cannot deadlock on these rows
        bumped = session.execute(update(CacheVersion).where(CacheVersion.kind == kind)
                                 .values(version=CacheVersion.version + 1))
        if bumped.rowcount == 0:  # type: ignore[attr-defined]
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            session.execute(insert(CacheVersion).values(kind=kind, version=1).on_conflict_do_update(
                index_elements=[CacheVersion.kind], set_={"version": CacheVersion.version + 1}))
    if dialect == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    session.info[_DATABASE] = database_key(bind.engine.url)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    kinds = session.info.pop(_PENDING, None)
    key = session.info.pop(_DATABASE, None)
    if kinds and key:
        versions_for(key).bump(kinds)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_DATABASE, None)

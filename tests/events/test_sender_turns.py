"""A process's webhook senders (SPEC §14) look for work in turns while idle, and all work once there is some.

Every idle look is a transaction and a thread waking up beside the request threads; a worker of ``serve`` has
four senders on PostgreSQL, so looking once per poll *each* was four transactions a second per worker for
nothing. These tests run real sender threads against the test database."""

from __future__ import annotations

import time

from flask import Flask
from sqlalchemy import event

from idp_bridge.accounts import admin
from idp_bridge.events import sender
from idp_bridge.events.models import Delivery
from idp_bridge.events.webhooks import create_webhook
from idp_bridge.extensions import db
from tests.events.receiver import Receiver
from tests.events.test_outbox import FAST
from tests.support.statements import counting

POLL = 0.1


def _looks(statements: list[str]) -> int:
    return sum(1 for sql in statements if "FROM deliveries" in sql and sql.lstrip().upper().startswith("SELECT"))


def test_idle_senders_of_a_process_look_once_per_poll_in_all(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    with counting(engine) as tally:
        threads = sender.start_background(app, threads=4, poll=POLL, policy=FAST)
        time.sleep(20 * POLL)
        started = time.monotonic()
        sender.stop_all(threads, timeout=5)
        stopping = time.monotonic() - started
    looks = _looks(tally.statements)
    assert 3 <= looks <= 30, tally.report()  # once per poll in all: 20 in 2 s; one per thread per poll was 80
    assert stopping < 1.0, stopping  # a sender waiting its turn stops at once


def test_a_sender_that_finds_work_wakes_its_siblings(app: Flask, receiver: Receiver) -> None:
    """Eight deliveries to a receiver that takes 0.4 s each: one sender alone needs 3.2 s. The four share them
    from the first find on, although idle the second would look only 2 s later, the third 4 s later…"""
    receiver.delay = 0.4
    with app.app_context():
        create_webhook(receiver.url, ["user.created"])
        for i in range(8):
            admin.create_user(name=f"p{i}")
    threads = sender.start_background(app, threads=4, poll=2.0, policy=FAST)
    try:
        started = time.monotonic()
        receiver.wait_for(8, timeout=20)
        took = time.monotonic() - started
    finally:
        sender.stop_all(threads, timeout=5)
    with app.app_context():
        states = db.session.scalars(db.select(Delivery.state)).all()
    assert states == ["delivered"] * 8, states
    assert took < 2.0, took  # ≈ 0.8 s with four at work; 3.2 s with one


def test_after_a_burst_the_senders_take_turns_again(app: Flask, receiver: Receiver) -> None:
    """A burst ends for every sender at about the same moment; they go back to their own turns instead of
    looking all together every few polls (which would leave a new event waiting that long)."""
    looked: list[float] = []

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM deliveries" in statement and statement.lstrip().upper().startswith("SELECT"):
            looked.append(time.monotonic())

    with app.app_context():
        engine = db.engine
        create_webhook(receiver.url, ["user.created"])
        for i in range(6):
            admin.create_user(name=f"b{i}")
    event.listen(engine, "before_cursor_execute", on_statement)
    threads = sender.start_background(app, threads=4, poll=0.25, policy=FAST)
    try:
        receiver.wait_for(6, timeout=20)
        burst_over = time.monotonic() + 0.3
        time.sleep(3.3)
    finally:
        sender.stop_all(threads, timeout=5)
        event.remove(engine, "before_cursor_execute", on_statement)
    idle = [t for t in looked if t > burst_over]
    gaps = [b - a for a, b in zip(idle, idle[1:], strict=False)]
    assert len(idle) >= 6, len(idle)
    assert max(gaps) < 0.75, [round(g, 2) for g in gaps]  # one look per 0.25 s in all; together it was 1 s gaps

"""How many rows each table holds: "nothing written" is checked by comparing two of these."""

from __future__ import annotations

from flask import Flask

from idp_bridge.extensions import db


def row_counts(app: Flask, *, ignore: tuple[str, ...] = ()) -> dict[str, int]:
    with app.app_context():
        counts = {t.name: db.session.execute(db.select(db.func.count()).select_from(t)).scalar_one()
                  for t in db.metadata.sorted_tables if t.name not in ignore}
        db.session.remove()
    return counts

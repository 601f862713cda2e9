"""The version row of each cached kind: bumped in the transaction that changes the kind's tables."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp_bridge.extensions import db


class CacheVersion(db.Model):  # type: ignore[name-defined]
    """``version`` only ever changes; readers compare it for inequality, so a missing row (a fresh or emptied
    database) is simply another version."""

    __tablename__ = "cache_versions"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)

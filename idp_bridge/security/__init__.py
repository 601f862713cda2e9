"""Feature package `security` (see DESIGN.md)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this feature's blueprints and hooks on `app`."""

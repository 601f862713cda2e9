"""Prometheus metrics (SPEC §5 ``/metrics``)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the ``/metrics`` endpoint on ``app``."""

"""The WeChat server URL of a connection (SPEC §5, §7.4): the only Flask-aware module of ``wechat/``."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the callback blueprint on ``app``."""

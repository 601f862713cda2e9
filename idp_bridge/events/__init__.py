"""Events (SPEC §14): an outbox written in the caller's transaction, a background sender that delivers it as
Standard Webhooks and OIDC Back-Channel Logout requests, and the producers that feed it."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Connect the event producers to the signals of the packages whose changes they report."""
    from idp_bridge.events.sources import connect

    connect()

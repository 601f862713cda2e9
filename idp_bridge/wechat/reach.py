"""A connection's reach (SPEC §13): the account type and the ways of signing in it offers besides the
parametric QR code — send-a-code, in-WeChat web authorization, and the follow requirement of the latter.

What each account type can do (WeChat's interface permission table): only a *verified service account* may
create parametric QR codes (``qrcode/create``; others get ``48001``) and use web authorization; a subscription
account (or an unverified one) can still receive chat texts, so it signs in by code only.
"""

from __future__ import annotations

from typing import Any

from idp_bridge import audit
from idp_bridge.extensions import db
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.models import Connection

ACCOUNT_TYPES = ("service", "subscription")
FIELDS = ("account_type", "code_login", "account_qr_url", "web_auth", "require_follow")
MAX_URL = 500


def _account_qr_url(value: str) -> str | None:
    """The URL *inside* the account's ordinary QR code (``http://weixin.qq.com/r/…``): the page draws it as a QR
    itself, so no image is fetched from elsewhere (the page's CSP allows same-origin images only)."""
    if value == "":
        return None
    if len(value) > MAX_URL or not value.startswith(("https://", "http://")) or any(
            ord(c) <= 32 or c in "\"'<>\\" for c in value):
        raise ValidationError("account_qr_url", f"must be the http(s) URL inside the account's QR code, at most "
                                                f"{MAX_URL} characters (empty to remove)")
    return value


def apply(connection: Connection, changes: dict[str, Any], *, commit: bool = True) -> Connection:
    """Apply the reach options that are set (``None`` = unchanged), all or nothing, then check the combination."""
    values = {name: getattr(connection, name) for name in FIELDS}
    changed = [name for name in FIELDS if changes.get(name) is not None]
    for name in changed:
        values[name] = changes[name]
    if values["account_type"] not in ACCOUNT_TYPES:
        raise ValidationError("account_type", f"must be one of {', '.join(ACCOUNT_TYPES)}")
    if values["account_type"] == "subscription":
        if values["web_auth"]:
            raise ValidationError("web_auth", "needs a verified service account (not a subscription account)")
        values["code_login"] = True  # code-only: subscription accounts cannot create parametric QR codes
    if values["require_follow"] and not values["web_auth"]:
        raise ValidationError("require_follow", "only applies with --web-auth")
    if isinstance(values["account_qr_url"], str):
        values["account_qr_url"] = _account_qr_url(values["account_qr_url"])
    if not changed:
        return connection
    for name in FIELDS:
        setattr(connection, name, values[name])
    if commit:
        db.session.commit()
        audit.record("connection.reach", actor="admin", target=connection.identifier, fields=changed)
    return connection


def qr_capable(connection: Connection) -> bool:
    """Whether this connection may call ``qrcode/create`` (never for a subscription account)."""
    return connection.account_type != "subscription"


def describe(connection: Connection) -> dict[str, Any]:
    return {name: getattr(connection, name) for name in FIELDS}


def validate(changes: dict[str, Any]) -> None:
    """Check reach options for a connection about to be created, before anything is written."""
    blank = Connection(account_type="service", code_login=False, account_qr_url=None, web_auth=False,
                       require_follow=False)
    apply(blank, changes, commit=False)

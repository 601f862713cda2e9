"""What goes on the wire: a Standard Webhooks request (standardwebhooks.com, signed with the reference
``standardwebhooks`` library) or an OIDC Back-Channel Logout request (logout token, OIDC BCL 1.0 §2.4)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from joserfc import jwt
from standardwebhooks import Webhook as Signer

from idp_bridge.config import current_settings
from idp_bridge.events.models import Delivery, Webhook
from idp_bridge.extensions import db
from idp_bridge.oidc import keystore
from idp_bridge.secretbox import open_sealed, seal

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_LIFETIME = 120  # seconds; OIDC BCL 1.0 §2.4 recommends a short lifetime
_PURPOSE = "webhook.secret"


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (the Standard Webhooks secret format)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def seal_secret(secret: str) -> str:
    return seal(current_app.config["SECRET_KEY"], _PURPOSE, secret)


def webhook_secret(hook: Webhook) -> str:
    return open_sealed(current_app.config["SECRET_KEY"], _PURPOSE, hook.secret_sealed)


def webhook_body(delivery: Delivery) -> str:
    """``{"type", "timestamp", "data"}`` (SPEC §14); the same bytes on every retry of one delivery."""
    event = delivery.event
    return json.dumps({"type": event.type, "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
                       "data": event.data}, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def webhook_request(delivery: Delivery) -> tuple[dict[str, str], bytes]:
    """Headers and body; ``webhook-id`` is stable across retries (receivers de-duplicate on it), the
    timestamp is fresh so that a retry hours later is inside the receiver's tolerance."""
    hook = db.session.get(Webhook, delivery.webhook_id)
    if hook is None:
        raise LookupError("webhook deleted")
    body = webhook_body(delivery)
    now = datetime.now(UTC)
    signature = Signer(webhook_secret(hook)).sign(delivery.message_id, now, body)
    headers = {"content-type": "application/json", "webhook-id": delivery.message_id,
               "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
    return headers, body.encode()


def logout_token(client_id: str, sub: str, sid: str | None, alg: str = "RS256") -> str:
    """A logout token (OIDC BCL 1.0 §2.4): ``iss``, ``aud``, ``iat``, ``exp``, ``jti``, ``sub``, ``sid``,
    ``events``; never a ``nonce`` (§2.4 forbids it, so a logout token cannot pass as an ID token)."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": current_settings().issuer, "aud": client_id, "iat": now,
                              "exp": now + LOGOUT_TOKEN_LIFETIME, "jti": secrets.token_urlsafe(16), "sub": sub,
                              "events": {BACKCHANNEL_EVENT: {}}}
    if sid:
        claims["sid"] = sid
    key = keystore.signing_key(alg)
    header = {"alg": alg, "kid": str(key.kid), "typ": "logout+jwt"}
    return jwt.encode(header, claims, key)


def backchannel_request(delivery: Delivery) -> tuple[dict[str, str], bytes]:
    from urllib.parse import urlencode

    data = delivery.event.data
    token = logout_token(str(data["client_id"]), str(data["sub"]), data.get("sid"))
    return {"content-type": "application/x-www-form-urlencoded"}, urlencode({"logout_token": token}).encode()


def build_request(delivery: Delivery) -> tuple[dict[str, str], bytes]:
    return backchannel_request(delivery) if delivery.kind == "backchannel" else webhook_request(delivery)

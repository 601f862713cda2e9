"""``id_token_hint`` at the authorization endpoint (OIDC Core §3.1.2.1, SPEC §15).

The hint is trusted only if it is an ID token we signed (verified against our published JWKS, so a retired
key still counts), issued by us, for the requesting client. Expiry is deliberately not checked: OIDC Core
says the hint may be an expired ID token. The result is the ``sub`` it names, or None for a bad hint.
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from idp_bridge.oidc import keystore

MAX_LENGTH = 4096  # an ID token of ours is well under 2 kB; larger values are not worth a signature check


def hinted_subject(hint: str, client_id: str, issuer: str) -> str | None:
    """The ``sub`` of a valid hint for ``client_id``; None if the hint is not one of our ID tokens for it."""
    if not hint or len(hint) > MAX_LENGTH:
        return None
    try:
        token = jwt.decode(hint, keystore.public_keyset(), algorithms=list(keystore.ALGORITHMS))
    except (JoseError, ValueError, TypeError):
        return None
    claims: dict[str, Any] = dict(token.claims)
    if claims.get("iss") != issuer or not _audience_has(claims.get("aud"), client_id):
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) and sub else None


def _audience_has(aud: Any, client_id: str) -> bool:
    """``aud`` is a string or a list of strings (RFC 7519 §4.1.3); it must contain the client."""
    if isinstance(aud, str):
        return aud == client_id
    return isinstance(aud, list) and client_id in aud

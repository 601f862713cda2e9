"""Signing keys: generated on first use into the database, sealed at rest, rotated on demand (SPEC §4).

Rotation follows node-oidc-provider's advice: the new key signs from now on; the retired key stays in the
JWKS until every token it signed has expired, then disappears. Private keys never leave this module except
as joserfc key objects used to sign in-process.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.exc import IntegrityError

from idp_bridge import audit, cache
from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.oidc.models import SIGNING_KEYS_KIND, SigningKey
from idp_bridge.secretbox import open_sealed, seal
from idp_bridge.timeutil import utcnow

ALGORITHMS = ("RS256", "ES256")
_PURPOSE = "signing_key"


def _generate(alg: str) -> RSAKey | ECKey:
    params: Any = {"kid": secrets.token_urlsafe(12), "use": "sig", "alg": alg}
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=params, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params, private=True)
    raise ValueError(f"unsupported algorithm {alg!r}")


def _new_row(alg: str) -> SigningKey:
    key = _generate(alg)
    private = json.dumps(key.as_dict(private=True))
    return SigningKey(
        kid=key.kid,
        alg=alg,
        active_alg=alg,
        private_jwk_sealed=seal(current_app.config["SECRET_KEY"], _PURPOSE, private),
        public_jwk=key.as_dict(private=False),
    )


def _active_row(alg: str) -> SigningKey:
    row = db.session.scalar(db.select(SigningKey).where(SigningKey.active_alg == alg))
    if row is not None:
        return row
    db.session.add(_new_row(alg))
    try:
        db.session.commit()
    except IntegrityError:  # another worker created it first: use theirs
        db.session.rollback()
    row = db.session.scalar(db.select(SigningKey).where(SigningKey.active_alg == alg))
    if row is None:  # pragma: no cover - only if the database lost the row we just saw committed
        raise RuntimeError(f"no active {alg} signing key")
    return row


def _load_signing_key(alg: str) -> RSAKey | ECKey:
    row = _active_row(alg)
    data = json.loads(open_sealed(current_app.config["SECRET_KEY"], _PURPOSE, row.private_jwk_sealed))
    return RSAKey.import_key(data) if row.alg == "RS256" else ECKey.import_key(data)


def signing_key(alg: str = "RS256") -> RSAKey | ECKey:
    """The active private key for ``alg`` (created on first use), with its ``kid`` set.

    Kept per process and dropped everywhere when any key changes (``idp_bridge.cache``): every ID token needs
    it, a rotation is rare, and unsealing costs an AES-GCM decryption plus a key import."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {alg!r}")
    key = cast("RSAKey | ECKey | None",
               cache.cached(SIGNING_KEYS_KIND, ("private", alg), lambda: _load_signing_key(alg)))
    if key is None:  # pragma: no cover - the loader creates the key or raises
        raise RuntimeError(f"no active {alg} signing key")
    return key


def _load_published() -> tuple[tuple[dict[str, Any], datetime | None, bool], ...]:
    signing_key("RS256")  # make sure there is always at least the default key to publish
    rows = db.session.scalars(db.select(SigningKey).order_by(SigningKey.id.desc()))
    return tuple((dict(row.public_jwk), row.remove_after, row.active_alg is not None) for row in rows)


def public_jwks() -> dict[str, Any]:
    """Every key that may still verify a live token: the active ones and retired ones not yet expired (the
    expiry is applied at each read, so a cached list never publishes a key past its time)."""
    published = cache.cached(SIGNING_KEYS_KIND, "published", _load_published) or ()
    now = utcnow()
    return {"keys": [dict(jwk) for jwk, remove_after, active in published
                     if active or (remove_after is not None and remove_after > now)]}


def public_keyset() -> KeySet:
    return KeySet.import_key_set(public_jwks())  # type: ignore[arg-type]


def rotate(alg: str = "RS256") -> SigningKey:
    """Start signing with a new key; keep the old one published for the longest token lifetime."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {alg!r}")
    settings = current_settings()
    keep = max(settings.id_token_lifetime, settings.access_token_lifetime)
    old = db.session.scalar(db.select(SigningKey).where(SigningKey.active_alg == alg))
    now = utcnow()
    if old is not None:
        old.active_alg = None
        old.retired_at = now
        old.remove_after = now + timedelta(seconds=keep)
        db.session.flush()
    new = _new_row(alg)
    db.session.add(new)
    db.session.commit()
    audit.record("keys.rotate", actor=audit.current_actor(), target=new.kid, alg=alg, retired=old.kid if old else None)
    return new


def list_keys() -> list[SigningKey]:
    return list(db.session.scalars(db.select(SigningKey).order_by(SigningKey.id)))

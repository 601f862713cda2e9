"""Persistence of codes and tokens with the rules Authlib leaves to us (RFC 6749 §4.1.2 and §10.5,
RFC 6819 §5.1.4.1.3, RFC 9700 §4.14.2).

Codes are consumed by one atomic ``UPDATE … WHERE used_at IS NULL``; a second use marks the code replayed
and revokes every token issued from it. Tokens are stored as digests; refresh tokens rotate inside a family,
and a reused (already rotated) refresh token revokes the whole family.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, fields, replace

from authlib.oauth2.rfc6749 import InvalidGrantError
from sqlalchemy import bindparam, or_, update

from idp_bridge.extensions import db
from idp_bridge.oidc.models import AuthorizationCode, ClientRules, CodeRules, Token
from idp_bridge.oidc.principal import USER_ID, UserRecord, active, load_user, user_from_rows, user_select
from idp_bridge.plainsql import Plain
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CodeRecord(CodeRules):
    """A consumed code as the token request needs it: read by the consuming statement itself, with the user it
    was issued for (``None`` when that user is gone or blocked)."""

    id: int
    user_id: int
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    sid: str | None
    connection_id: int | None
    user: UserRecord | None = None


_CODES = AuthorizationCode.__table__
_CODE_FIELDS = [f.name for f in fields(CodeRecord) if f.name != "user"]
_CONSUMING = (update(_CODES)
              .where(_CODES.c.code_digest == bindparam("digest"), _CODES.c.client_id == bindparam("b_client_id"),
                     _CODES.c.used_at.is_(None), _CODES.c.expires_at > bindparam("now"))
              .values(used_at=bindparam("now"))
              .returning(*[_CODES.c[name] for name in _CODE_FIELDS]))
_CONSUME = Plain(_CONSUMING)
# PostgreSQL runs a data-modifying statement in WITH (docs, "Data-Modifying Statements in WITH"): the code is
# consumed and its user read in one statement and one round trip. SQLite has no such statement.
_CONSUMED = _CONSUMING.cte("consumed")
_CONSUME_WITH_USER = Plain(user_select(*_CONSUMED.c, joined_to=_CONSUMED, on=USER_ID == _CONSUMED.c.user_id,
                                       outer=True))


def consume_code(code: str, client: ClientRules) -> CodeRecord | None:
    """Mark the code used if it is live and this client's, in one ``UPDATE … RETURNING`` (on PostgreSQL with its
    user read in the same statement); on a replay, revoke what it produced.

    Nothing is committed here: the token request commits once, after its tokens are saved (the view does).
    Until then the code's row stays locked by this transaction, so a concurrent redemption waits, then finds
    the code used and revokes what this one issued — the replay rule of RFC 6749 §4.1.2 holds without a
    second look at the row. Plain SQL (no ORM identity map): this is the hottest statement of the SSO path."""
    code_digest = digest(code)
    params = {"digest": code_digest, "b_client_id": client.client_id, "now": utcnow()}
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        rows = _CONSUME_WITH_USER.rows(connection, params)
        if rows:
            width = len(_CODE_FIELDS)
            return CodeRecord(*rows[0][:width], active(user_from_rows(rows, skip=width)))  # type: ignore[call-arg]
    else:
        row = _CONSUME.first(connection, params)
        if row is not None:
            consumed = CodeRecord(*row)
            return replace(consumed, user=load_user(consumed.user_id))
    spent = db.session.scalar(db.select(AuthorizationCode).where(AuthorizationCode.code_digest == code_digest))
    if spent is not None and spent.used_at is not None and spent.client_id == client.client_id:
        log.warning("authorization code replayed by client %s: revoking tokens issued from it", client.client_id)
        revoke_from_code(spent.id)
    return None


def revoke_from_code(code_id: int) -> None:
    """Revoke every token family that started from ``code_id`` (a replay, RFC 6749 §4.1.2)."""
    families = [t.family_id for t in db.session.scalars(db.select(Token).where(Token.code_id == code_id))]
    # Also mark the code itself, so a token saved concurrently by the first redemption is caught.
    db.session.execute(update(AuthorizationCode).where(AuthorizationCode.id == code_id).values(replayed_at=utcnow()))
    for family in set(families):
        revoke_family(family, commit=False)
    db.session.commit()


def revoke_family(family_id: str, *, commit: bool = True) -> None:
    db.session.execute(
        update(Token).where(Token.family_id == family_id, Token.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if commit:
        db.session.commit()


def find_token(token_string: str, hint: str | None = None) -> tuple[Token, str] | None:
    """Look a token up by digest; returns the row and which kind matched (access or refresh)."""
    value = digest(token_string)
    row = db.session.scalar(
        db.select(Token).where(or_(Token.access_token_digest == value, Token.refresh_token_digest == value))
    )
    if row is None:
        return None
    return row, "refresh_token" if row.refresh_token_digest == value else "access_token"


def rotate_refresh(row: Token) -> None:
    """Retire a refresh token exactly once; a concurrent second use is a reuse and revokes the family."""
    result = db.session.execute(
        update(Token).where(Token.id == row.id, Token.rotated_at.is_(None)).values(rotated_at=utcnow())
    )
    db.session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        revoke_family(row.family_id)
        raise InvalidGrantError("The refresh token was already used.")


def new_family_id() -> str:
    return secrets.token_urlsafe(24)


def new_token_value() -> str:
    """An opaque code, access or refresh token: 256 bits from the OS (RFC 6749 §10.10 asks for at least 128).
    Authlib's default draws each character through ``random.SystemRandom.choice``, ~90 calls per login."""
    return secrets.token_urlsafe(32)

"""Persistence of codes and tokens with the rules Authlib leaves to us (RFC 6749 §4.1.2 and §10.5,
RFC 6819 §5.1.4.1.3, RFC 9700 §4.14.2).

Codes are consumed by one atomic ``UPDATE … WHERE used_at IS NULL``; a second use marks the code replayed
and revokes every token issued from it. Tokens are stored as digests; refresh tokens rotate inside a family,
and a reused (already rotated) refresh token revokes the whole family.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError
from sqlalchemy import bindparam, exists, insert, or_, select, update

from idp_bridge import autocommit
from idp_bridge.extensions import db
from idp_bridge.oidc.models import AuthorizationCode, ClientRules, CodeRules, Token
from idp_bridge.oidc.principal import USER_BLOCKED, USER_ID, UserRecord, active, load_user, user_from_rows, user_select
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


def _with_user(consuming: Any) -> Any:
    """``consuming`` in WITH, its returned code joined with its user (PostgreSQL, docs "Data-Modifying
    Statements in WITH"): the code is consumed and its user read in one statement and one round trip."""
    consumed = consuming.cte("consumed")
    return user_select(*consumed.c, joined_to=consumed, on=USER_ID == consumed.c.user_id, outer=True)


# SQLite has no data-modifying statement in WITH: there the user is read on its own.
_CONSUME_WITH_USER = Plain(_with_user(_CONSUMING))
#: The same, consuming only a code the token request will accept (RFC 6749 §4.1.3 the same redirect URI, RFC 7636
#: §4.6 the verifier's S256 as challenge, an active user): the event-loop path spends nothing it would not use.
CONSUME_IF_VALID = Plain(_with_user(_CONSUMING.where(
    _CODES.c.redirect_uri == bindparam("b_redirect_uri"),
    _CODES.c.code_challenge == bindparam("b_code_challenge"),
    _CODES.c.code_challenge_method == bindparam("b_code_challenge_method"),
    exists().where(USER_ID == _CODES.c.user_id, USER_BLOCKED.is_(False)))))
REPLAYED = "The authorization code was already used."


def code_with_user(rows: Sequence[Sequence[Any]]) -> CodeRecord:
    """The consumed code, with its user, in the rows of :data:`CONSUME_IF_VALID` (or the PostgreSQL consume)."""
    width = len(_CODE_FIELDS)
    return CodeRecord(*rows[0][:width], active(user_from_rows(rows, skip=width)))  # type: ignore[call-arg]


def consume_code(code: str, client: ClientRules) -> CodeRecord | None:
    """Mark the code used if it is live and this client's, in one ``UPDATE … RETURNING`` (on PostgreSQL with its
    user read in the same statement); on a replay, revoke what it produced.

    The consumption is a statement of its own (autocommit, :mod:`idp_bridge.autocommit`): once it returns, the
    code is spent, whatever happens to the rest of the request (RFC 6749 §4.1.2: used once). The tokens it leads
    to are saved by :func:`save_code_tokens`, which inserts nothing once a replay has marked the code; together
    with :func:`revoke_from_code` marking before it looks, a racing replay either sees those tokens and revokes
    them or stops them being saved. Plain SQL (no ORM): this is the hottest statement of the SSO path."""
    code_digest = digest(code)
    params = {"digest": code_digest, "b_client_id": client.client_id, "now": utcnow()}
    if db.engine.dialect.name == "postgresql":
        rows = autocommit.rows(_CONSUME_WITH_USER, params)
        if rows:
            return code_with_user(rows)
    else:
        row = autocommit.first(_CONSUME, params)
        if row is not None:
            return replace(CodeRecord(*row), user=load_user(int(row[1])))
    spent = db.session.scalar(db.select(AuthorizationCode).where(AuthorizationCode.code_digest == code_digest))
    if spent is not None and spent.used_at is not None and spent.client_id == client.client_id:
        log.warning("authorization code replayed by client %s: revoking tokens issued from it", client.client_id)
        revoke_from_code(spent.id)
    return None


_TOKENS = Token.__table__
CODE_TOKEN_COLUMNS = ("client_id", "user_id", "access_token_digest", "refresh_token_digest", "scope", "family_id",
                      "parent_id", "code_id", "auth_time", "sid", "connection_id", "issued_at", "access_expires_at",
                      "refresh_expires_at")
# INSERT … SELECT from the code's own row, locked and only while no replay has marked it.
SAVE_CODE_TOKENS = Plain(insert(_TOKENS).from_select(
    list(CODE_TOKEN_COLUMNS),
    select(*[bindparam(f"v_{name}", type_=_TOKENS.c[name].type) for name in CODE_TOKEN_COLUMNS])
    .select_from(_CODES).where(_CODES.c.id == bindparam("v_code_id"), _CODES.c.replayed_at.is_(None))
    .with_for_update()))


def save_code_tokens(values: dict[str, object]) -> None:
    """Store the tokens a consumed code led to (``values``: :data:`CODE_TOKEN_COLUMNS`), unless a replay of
    the code has been seen meanwhile: then nothing is stored and the client gets ``invalid_grant`` (RFC 6749
    §4.1.2). ``FOR UPDATE`` orders this against :func:`revoke_from_code` on the code's row: whichever comes second
    sees what the first did."""
    saved = autocommit.write(SAVE_CODE_TOKENS, save_code_tokens_params(values))
    if saved == 0:
        raise InvalidGrantError(REPLAYED)


def save_code_tokens_params(values: Mapping[str, object]) -> dict[str, object]:
    """The parameters of :data:`SAVE_CODE_TOKENS` for a token row's ``values``."""
    return {f"v_{name}": value for name, value in values.items()}


def revoke_from_code(code_id: int) -> None:
    """Revoke every token family that started from ``code_id`` (a replay, RFC 6749 §4.1.2). The code is marked
    first: from then on :func:`save_code_tokens` stores nothing for it, and what it stored before is seen here."""
    db.session.execute(update(AuthorizationCode).where(AuthorizationCode.id == code_id).values(replayed_at=utcnow()))
    families = [t.family_id for t in db.session.scalars(db.select(Token).where(Token.code_id == code_id))]
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

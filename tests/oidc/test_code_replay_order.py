"""RFC 6749 §4.1.2 when the code's consumption and its tokens are separate statements (``oidc.tokens``): a replay
that comes between them stops the tokens being saved, and one that comes after them revokes them. Both orders are
forced here, on both databases; ``test_flows`` races real redemptions over HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from authlib.oauth2.rfc6749 import InvalidGrantError
from flask import Flask
from sqlalchemy import update

from idp_bridge import create_app
from idp_bridge.extensions import db
from idp_bridge.oidc import tokens
from idp_bridge.oidc.client_cache import find_client
from idp_bridge.oidc.models import AuthorizationCode, Token
from idp_bridge.oidc.registration import create_client
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow
from tests.conftest import TEST_SECRET_KEY, throwaway_pg_database
from tests.support.seam import make_user


def _issued_code(app: Flask) -> tuple[str, object]:
    """A live code for a new user and client; returns the code and the client."""
    user_id = make_user(app)
    with app.app_context():
        client, _secret = create_client("Shop", ["https://rp.example/cb"])
        db.session.add(AuthorizationCode(code_digest=digest("the-code"), client_id=client.client_id, user_id=user_id,
                                         redirect_uri="https://rp.example/cb", scope="openid", auth_time=1,
                                         expires_at=utcnow() + timedelta(seconds=60)))
        db.session.commit()
        return "the-code", find_client(client.client_id)


def _values(consumed: tokens.CodeRecord) -> dict[str, object]:
    now = utcnow()
    return {"client_id": "x", "user_id": consumed.user_id, "access_token_digest": digest(f"at-{now}"),
            "refresh_token_digest": None, "scope": "openid", "family_id": tokens.new_family_id(), "parent_id": None,
            "code_id": consumed.id, "auth_time": 1, "sid": None, "connection_id": None, "issued_at": now,
            "access_expires_at": now + timedelta(seconds=300), "refresh_expires_at": None}


def _live_tokens() -> int:
    return int(db.session.scalar(db.select(db.func.count()).select_from(Token).where(Token.revoked_at.is_(None)))
               or 0)


def test_a_replay_between_consumption_and_tokens_stops_the_tokens(app: Flask) -> None:
    code, client = _issued_code(app)
    with app.app_context():
        consumed = tokens.consume_code(code, client)  # type: ignore[arg-type]
        assert consumed is not None and consumed.user is not None
        db.session.remove()
        assert tokens.consume_code(code, client) is None  # type: ignore[arg-type]  # the replay marks the code
        db.session.remove()
        with pytest.raises(InvalidGrantError):
            tokens.save_code_tokens(_values(consumed))
        db.session.remove()
        assert db.session.scalar(db.select(db.func.count()).select_from(Token)) == 0


def test_a_replay_after_the_tokens_revokes_them(app: Flask) -> None:
    code, client = _issued_code(app)
    with app.app_context():
        consumed = tokens.consume_code(code, client)  # type: ignore[arg-type]
        assert consumed is not None
        tokens.save_code_tokens(_values(consumed))
        db.session.remove()
        assert _live_tokens() == 1
        db.session.remove()
        assert tokens.consume_code(code, client) is None  # type: ignore[arg-type]
        db.session.remove()
        assert _live_tokens() == 0


def test_the_consumption_is_final_once_it_returns(app: Flask) -> None:
    """The code is spent by its own statement: a failure later in the request does not give it back."""
    code, client = _issued_code(app)
    with app.app_context():
        assert tokens.consume_code(code, client) is not None  # type: ignore[arg-type]
        db.session.rollback()  # whatever the rest of the request did is undone
        db.session.remove()
        assert db.session.scalar(db.select(AuthorizationCode.used_at)) is not None


def test_tokens_wait_for_a_replay_in_progress_and_are_then_refused(tmp_path: Path) -> None:
    """PostgreSQL: the tokens' INSERT locks the code's row (``FOR UPDATE``). While a replay has marked the code
    but not committed, the INSERT waits; once the replay commits, it sees the mark and stores nothing."""
    with throwaway_pg_database("idp_replay") as url:
        app = create_app({"database_url": url, "instance_dir": tmp_path, "secret_key": TEST_SECRET_KEY})
        with app.app_context():
            db.create_all()
        code, client = _issued_code(app)
        outcome: list[str] = []
        with app.app_context():
            consumed = tokens.consume_code(code, client)  # type: ignore[arg-type]
            assert consumed is not None
            values = _values(consumed)
            with db.engine.connect() as replay:  # the replay's transaction, holding the mark uncommitted
                replay.execute(update(AuthorizationCode).where(AuthorizationCode.id == consumed.id)
                               .values(replayed_at=utcnow()))

                def save() -> None:
                    with app.app_context():
                        try:
                            tokens.save_code_tokens(values)
                            outcome.append("saved")
                        except InvalidGrantError:
                            outcome.append("refused")
                        finally:
                            db.session.remove()

                saver = threading.Thread(target=save)
                saver.start()
                saver.join(1.0)
                assert saver.is_alive() and not outcome, "the INSERT did not wait for the replay's lock"
                replay.commit()
            saver.join(10)
            assert outcome == ["refused"]
            assert db.session.scalar(db.select(db.func.count()).select_from(Token)) == 0
            db.session.remove()
            db.engine.dispose()

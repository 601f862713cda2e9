"""The SSO lane (``idp_bridge.oidc.lane``) against the threaded path it stands in for, on PostgreSQL (the lane runs
only there), through ``ServingApp`` as uvicorn drives it.

Differential: the same plain SSO authorization and code exchange are answered by the lane and by the threaded
path, and the answers match header for header and claim for claim, and each path accepts the other's codes.
Then every kind of request the lane must not answer is shown to be handed over — with nothing written — and
answered by the threaded path as before.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import event

from idp_bridge import create_app
from idp_bridge.accounts.models import User
from idp_bridge.extensions import db
from idp_bridge.oidc import keystore, sso
from idp_bridge.oidc.cookies import cookie_name
from idp_bridge.oidc.models import AuthorizationCode, Token
from idp_bridge.oidc.registration import create_client
from idp_bridge.streaming import ServingApp
from tests.conftest import TEST_SECRET_KEY, throwaway_pg_database
from tests.support.seam import make_user

ISSUER = "http://127.0.0.1:8000"
REDIRECT = "https://rp.example/cb"
REQUEST_ID = "lane-test-request"


class Driver:
    """``ServingApp`` driven on a loop of its own, as uvicorn would drive it; ``lane=False`` sends the request
    down the threaded path."""

    def __init__(self, served: ServingApp) -> None:
        self.served = served
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str, *, query: dict[str, str] | str = "", body: bytes = b"",
                headers: dict[str, str] | None = None, lane: bool = True) -> tuple[int, list[tuple[str, str]], bytes]:
        raw_query = query if isinstance(query, str) else urlencode(query)
        all_headers = {"host": "127.0.0.1:8000", "x-request-id": REQUEST_ID, **(headers or {})}
        if body:
            all_headers.setdefault("content-type", "application/x-www-form-urlencoded")
            all_headers["content-length"] = str(len(body))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": raw_query.encode(), "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()]}
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def run() -> None:
            lane = self.served.lane
            if not use_lane:
                self.served.lane = None
            try:
                await self.served._http(scope, receive, send)
            finally:
                self.served.lane = lane

        use_lane = lane
        asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)
        start = next(m for m in sent if m["type"] == "http.response.start")
        response_headers = [(k.decode().lower(), v.decode()) for k, v in start["headers"]]
        return int(start["status"]), response_headers, b"".join(m.get("body", b"") for m in sent
                                                              if m["type"] == "http.response.body")

    def answered_by_lane(self, method: str, path: str, **kw: Any) -> bool:
        """Whether the lane itself answers (its own answer, without the threaded path)."""
        before = self.lane_answers
        self.request(method, path, **kw)
        return self.lane_answers > before

    @property
    def lane_answers(self) -> int:
        return int(getattr(self.served, "_lane_answers", 0))

    def close(self) -> None:
        if self.served.pool is not None:
            asyncio.run_coroutine_threadsafe(self.served.pool.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.served._wsgi.shutdown()


class World:
    def __init__(self, app: Flask, driver: Driver) -> None:
        self.app, self.driver = app, driver
        self.user_id = make_user(app, name="Li Si")
        with app.app_context():
            client, secret = create_client("Shop", [REDIRECT])
            third, third_secret = create_client("Partner", [REDIRECT], third_party=True)
            self.client_id, self.secret = client.client_id, str(secret)
            self.third_party = third.client_id
            _session, value = sso.start_session(self.user_id, None)
            self.cookie_name = cookie_name(sso.COOKIE)
            self.cookie = f"{self.cookie_name}={value}"

    def authorize_query(self, verifier: str, **extra: str) -> dict[str, str]:
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT, "scope": "openid",
                 "state": "st-1", "nonce": "n-1", "code_challenge": create_s256_code_challenge(verifier),
                 "code_challenge_method": "S256"}
        query.update(extra)
        return {k: v for k, v in query.items() if v != "<absent>"}

    def authorize(self, verifier: str, *, lane: bool = True, cookie: str | None = None,
                  **extra: str) -> tuple[int, list[tuple[str, str]], bytes]:
        return self.driver.request("GET", "/oauth/authorize", query=self.authorize_query(verifier, **extra),
                                   headers={"cookie": self.cookie if cookie is None else cookie}, lane=lane)

    def basic(self, client_id: str | None = None, secret: str | None = None) -> str:
        pair = f"{client_id or self.client_id}:{self.secret if secret is None else secret}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def token(self, code: str, verifier: str, *, lane: bool = True, headers: dict[str, str] | None = None,
              **extra: str) -> tuple[int, list[tuple[str, str]], bytes]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
        form.update(extra)
        form = {k: v for k, v in form.items() if v != "<absent>"}
        return self.driver.request("POST", "/oauth/token", body=urlencode(form).encode(), lane=lane,
                                   headers={"authorization": self.basic(), **(headers or {})})

    def code_of(self, answer: tuple[int, list[tuple[str, str]], bytes]) -> str:
        status, headers, _ = answer
        assert status == 302, answer
        return dict(parse_qsl(urlsplit(dict(headers)["location"]).query))["code"]


@pytest.fixture(scope="module")
def lane_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with throwaway_pg_database("idp_lane") as url:
        app = create_app({"database_url": url, "instance_dir": tmp_path_factory.mktemp("lane"),
                          "secret_key": TEST_SECRET_KEY, "issuer": ISSUER})
        with app.app_context():
            db.create_all()
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def world(lane_app: Flask) -> Iterator[World]:
    served = ServingApp(lane_app, threads=4)
    assert served.lane is not None, "the lane runs on PostgreSQL"
    answers = 0
    original = served.lane.answer

    async def counted(scope: Any, body: bytes) -> Any:
        nonlocal answers
        answer = await original(scope, body)
        if answer is not None:
            answers += 1
            served._lane_answers = answers  # type: ignore[attr-defined]
        return answer

    served.lane.answer = counted  # type: ignore[method-assign]
    driver = Driver(served)
    w = World(lane_app, driver)
    with lane_app.app_context():
        keystore.signing_key("RS256")
    _warm(w)
    yield w
    driver.close()
    with lane_app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        db.session.remove()


def _warm(w: World) -> None:
    """Through the threaded path until this process trusts its caches (client, key, lock-outs in memory)."""
    for _ in range(40):
        verifier = secrets.token_urlsafe(48)
        w.token(w.code_of(w.authorize(verifier, lane=False)), verifier, lane=False)
        if w.driver.answered_by_lane("GET", "/oauth/authorize", query=w.authorize_query(verifier),
                                     headers={"cookie": w.cookie}):
            return
        time.sleep(0.1)
    raise AssertionError("the lane never answered a plain SSO authorization")


def _comparable(headers: list[tuple[str, str]], *skip: str) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in headers if k not in skip)


def _claims(id_token: str, w: World) -> tuple[dict[str, Any], dict[str, Any]]:
    with w.app.app_context():
        keys = KeySet.import_key_set(keystore.public_jwks())
    decoded = jwt.decode(id_token, keys, algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


def test_the_lane_answers_an_sso_authorization_as_the_threaded_path_does(world: World) -> None:
    verifier = secrets.token_urlsafe(48)
    ours = world.authorize(verifier)
    theirs = world.authorize(verifier, lane=False)
    assert ours[0] == theirs[0] == 302
    assert _comparable(ours[1], "location") == _comparable(theirs[1], "location")
    ours_location, theirs_location = urlsplit(dict(ours[1])["location"]), urlsplit(dict(theirs[1])["location"])
    assert ours_location._replace(query="") == theirs_location._replace(query="")
    ours_params, theirs_params = parse_qsl(ours_location.query), parse_qsl(theirs_location.query)
    assert [k for k, _ in ours_params] == [k for k, _ in theirs_params] == ["code", "state", "iss"]
    assert ours_params[1:] == theirs_params[1:]
    assert ours[2] == theirs[2] == b""


def test_the_lane_answers_a_code_exchange_as_the_threaded_path_does(world: World) -> None:
    results = []
    for lane in (True, False):
        verifier = secrets.token_urlsafe(48)
        code = world.code_of(world.authorize(verifier, lane=lane))
        results.append(world.token(code, verifier, lane=lane))
    (ours_status, ours_headers, ours_body), (theirs_status, theirs_headers, theirs_body) = results
    assert ours_status == theirs_status == 200
    assert _comparable(ours_headers, "content-length") == _comparable(theirs_headers, "content-length")
    ours_json, theirs_json = json.loads(ours_body), json.loads(theirs_body)
    assert sorted(ours_json) == sorted(theirs_json) == ["access_token", "expires_in", "id_token", "scope",
                                                        "token_type"]
    assert {k: ours_json[k] for k in ("expires_in", "scope", "token_type")} == \
        {k: theirs_json[k] for k in ("expires_in", "scope", "token_type")}
    ours_header, ours_claims = _claims(ours_json["id_token"], world)
    theirs_header, theirs_claims = _claims(theirs_json["id_token"], world)
    assert ours_header == theirs_header
    assert sorted(ours_claims) == sorted(theirs_claims)
    varying = {"iat", "exp", "at_hash"}
    assert {k: v for k, v in ours_claims.items() if k not in varying} == \
        {k: v for k, v in theirs_claims.items() if k not in varying}
    assert ours_claims["exp"] - ours_claims["iat"] == theirs_claims["exp"] - theirs_claims["iat"]


def test_each_path_redeems_the_others_codes_and_tokens_work_at_userinfo(world: World) -> None:
    for first, second in ((True, False), (False, True)):
        verifier = secrets.token_urlsafe(48)
        code = world.code_of(world.authorize(verifier, lane=first))
        status, _, body = world.token(code, verifier, lane=second)
        assert status == 200, body
        access = json.loads(body)["access_token"]
        info = world.driver.request("GET", "/oauth/userinfo", headers={"authorization": f"Bearer {access}"})
        assert info[0] == 200 and b'"sub"' in info[2]


def test_the_lane_costs_one_statement_to_authorize_two_to_exchange_and_never_the_threaded_pool(world: World) -> None:
    statements: list[str] = []
    served_lane = world.driver.served.lane
    assert served_lane is not None
    served_lane.pool.observers.append(statements.append)
    checkouts: list[object] = []

    def on_checkout(*_args: object) -> None:
        checkouts.append(_args)

    with world.app.app_context():
        engine = db.engine
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        verifier = secrets.token_urlsafe(48)
        before = world.driver.lane_answers
        code = world.code_of(world.authorize(verifier))
        authorize_statements = len(statements)
        assert world.token(code, verifier)[0] == 200
        assert world.driver.lane_answers == before + 2
    finally:
        event.remove(engine.pool, "checkout", on_checkout)
        served_lane.pool.observers.remove(statements.append)
    assert authorize_statements == 1 and len(statements) == 3, statements
    assert checkouts == []  # the loop never waited on a synchronous connection


def _unused(w: World, code: str) -> bool:
    from idp_bridge.secretbox import digest

    with w.app.app_context():
        try:
            used = db.session.scalar(db.select(AuthorizationCode.used_at)
                                     .where(AuthorizationCode.code_digest == digest(code)))
            return used is None
        finally:
            db.session.remove()


AUTHORIZE_HANDED_OVER = {
    "prompt": {"prompt": "none"},
    "max_age": {"max_age": "0"},
    "response_mode": {"response_mode": "form_post"},
    "unknown parameter": {"display": "page"},
    "no PKCE": {"code_challenge": "<absent>", "code_challenge_method": "<absent>"},
    "plain PKCE": {"code_challenge_method": "plain"},
    "other redirect URI": {"redirect_uri": "https://rp.example/other"},
    "unknown client": {"client_id": "no-such-client"},
    "no openid scope": {"scope": "profile"},
    "short challenge": {"code_challenge": "abc"},
}


@pytest.mark.parametrize("case", sorted(AUTHORIZE_HANDED_OVER))
def test_an_authorization_the_lane_does_not_take_is_answered_as_before(world: World, case: str) -> None:
    verifier = secrets.token_urlsafe(48)
    extra = AUTHORIZE_HANDED_OVER[case]
    before = world.driver.lane_answers
    ours = world.authorize(verifier, **extra)
    assert world.driver.lane_answers == before, f"the lane answered a request with {case}"
    theirs = world.authorize(verifier, lane=False, **extra)
    assert ours[0] == theirs[0]
    assert _comparable(ours[1], "location", "content-length", "set-cookie") == \
        _comparable(theirs[1], "location", "content-length", "set-cookie")


def test_authorizations_without_a_usable_session_or_consent_are_handed_over(world: World) -> None:
    verifier = secrets.token_urlsafe(48)
    before = world.driver.lane_answers
    assert world.authorize(verifier, cookie="")[0] == 303  # to the login page
    assert world.authorize(verifier, cookie=f"{world.cookie_name}=not-a-session")[0] == 303
    assert world.authorize(verifier, client_id=world.third_party)[0] in (200, 302, 303)  # consent is threaded
    repeated = urlencode(world.authorize_query(verifier)) + "&state=again"
    status, _, _ = world.driver.request("GET", "/oauth/authorize", query=repeated, headers={"cookie": world.cookie})
    assert status in (302, 400)
    with world.app.app_context():
        db.session.execute(db.update(User).where(User.id == world.user_id).values(blocked=True))
        db.session.commit()
        db.session.remove()
    assert world.authorize(verifier)[0] == 303
    assert world.driver.lane_answers == before


def test_code_exchanges_the_lane_does_not_take_change_nothing_before_the_threaded_path(world: World) -> None:
    verifier = secrets.token_urlsafe(48)
    code = world.code_of(world.authorize(verifier))
    before = world.driver.lane_answers
    cases: list[dict[str, Any]] = [
        {"code_verifier": secrets.token_urlsafe(48)},  # another verifier
        {"redirect_uri": "https://rp.example/other"},
        {"redirect_uri": "<absent>"},
        {"code_verifier": "<absent>"},
        {"headers": {"origin": "https://rp.example"}},
        {"headers": {"authorization": world.basic(secret="wrong")}},
    ]
    for case in cases:
        headers = case.pop("headers", None)
        lane = world.driver.served.lane
        assert lane is not None
        answer = asyncio.run_coroutine_threadsafe(
            lane.answer(*_token_scope(world, code, verifier, headers=headers, **case)), world.driver.loop).result(10)
        assert answer is None, case
        assert _unused(world, code), f"the lane spent the code on {case}"
    assert world.driver.lane_answers == before
    status, _, body = world.token(code, secrets.token_urlsafe(48))  # the threaded path: wrong verifier
    assert status == 400 and b"invalid_grant" in body and not _unused(world, code)
    assert world.token(code, verifier)[0] == 400  # spent, and a replay now


def _token_scope(w: World, code: str, verifier: str, *, headers: dict[str, str] | None = None,
                 **extra: str) -> tuple[dict[str, Any], bytes]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    form.update(extra)
    body = urlencode({k: v for k, v in form.items() if v != "<absent>"}).encode()
    all_headers = {"host": "127.0.0.1:8000", "content-type": "application/x-www-form-urlencoded",
                   "content-length": str(len(body)), "authorization": w.basic(), **(headers or {})}
    return ({"type": "http", "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/oauth/token",
             "root_path": "", "query_string": b"", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
             "headers": [(k.encode(), v.encode()) for k, v in all_headers.items()]}, body)


def test_a_replayed_code_is_handed_over_and_revokes_what_the_lane_issued(world: World) -> None:
    verifier = secrets.token_urlsafe(48)
    code = world.code_of(world.authorize(verifier))
    assert world.token(code, verifier)[0] == 200
    before = world.driver.lane_answers
    status, _, body = world.token(code, verifier)
    assert status == 400 and b"invalid_grant" in body
    assert world.driver.lane_answers == before
    from idp_bridge.secretbox import digest

    with world.app.app_context():
        code_id = db.session.scalar(db.select(AuthorizationCode.id)
                                    .where(AuthorizationCode.code_digest == digest(code)))
        issued = db.session.scalars(db.select(Token.revoked_at).where(Token.code_id == code_id)).all()
        db.session.remove()
    assert len(issued) == 1 and issued[0] is not None  # what the lane issued, revoked by the replay


def test_a_database_the_lane_cannot_reach_leaves_the_request_to_the_threaded_path(world: World) -> None:
    lane = world.driver.served.lane
    assert lane is not None
    asyncio.run_coroutine_threadsafe(lane.pool.close(), world.driver.loop).result(10)
    working, lane.pool.dsn = lane.pool.dsn, "postgresql://postgres@127.0.0.1:1/none"
    try:
        verifier = secrets.token_urlsafe(48)
        before = world.driver.lane_answers
        code = world.code_of(world.authorize(verifier))
        assert world.token(code, verifier)[0] == 200
        assert world.driver.lane_answers == before
    finally:
        lane.pool.dsn = working


def test_lane_answers_are_counted_in_the_metrics(world: World) -> None:
    from idp_bridge.metrics import HTTP_REQUESTS

    counter = HTTP_REQUESTS.labels("oidc.authorize", "302")
    before = counter._value.get()
    verifier = secrets.token_urlsafe(48)
    assert world.driver.answered_by_lane("GET", "/oauth/authorize", query=world.authorize_query(verifier),
                                         headers={"cookie": world.cookie})
    assert counter._value.get() == before + 1


def test_the_lane_is_off_where_it_cannot_run(tmp_path: Path) -> None:
    off = create_app({"database_url": f"sqlite:///{tmp_path / 'x.sqlite3'}", "instance_dir": tmp_path,
                      "secret_key": TEST_SECRET_KEY})
    assert ServingApp(off, threads=1).lane is None
    with throwaway_pg_database("idp_lane_off") as url:
        turned_off = create_app({"database_url": url, "instance_dir": tmp_path, "secret_key": TEST_SECRET_KEY,
                                 "sso_lane": False})
        assert ServingApp(turned_off, threads=1).lane is None


def _encoded(pairs: list[tuple[str, bytes]]) -> str:
    from urllib.parse import quote, quote_from_bytes

    return "&".join(f"{quote(k)}={quote_from_bytes(v)}" for k, v in pairs)


def test_hostile_values_in_every_place_the_lane_reads_get_the_threaded_answer(world: World) -> None:
    """SPEC §15 on the lane: a refused atom gets the input gate's 400 (the lane hands it over), an odd one an
    ordinary answer, never a 5xx — the same status as the threaded path gives — and the lane never answers a
    request whose value it would have to judge differently."""
    from idp_bridge.oidc.lane import authorize as lane_authorize
    from idp_bridge.oidc.lane import token as lane_token
    from tests.support.hostile import ODD_ATOMS, REFUSED_ATOMS

    verifier = secrets.token_urlsafe(48)
    base = {k: v.encode() for k, v in world.authorize_query(verifier).items()}
    for kind, atoms in (("refused", REFUSED_ATOMS), ("odd", ODD_ATOMS)):
        for name, atom in atoms:
            for place in sorted(lane_authorize.ACCEPTED):
                query = _encoded([(k, atom if k == place else v) for k, v in base.items()])
                ours = world.driver.request("GET", "/oauth/authorize", query=query, headers={"cookie": world.cookie})
                theirs = world.driver.request("GET", "/oauth/authorize", query=query,
                                              headers={"cookie": world.cookie}, lane=False)
                assert ours[0] < 500 and ours[0] == theirs[0], (name, place, ours[0], theirs[0])
                if kind == "refused":
                    assert ours[0] == 400, (name, place)
            code = world.code_of(world.authorize(verifier, lane=False))
            form = {"grant_type": b"authorization_code", "code": code.encode(), "redirect_uri": REDIRECT.encode(),
                    "code_verifier": verifier.encode()}
            before = world.driver.lane_answers
            for place in sorted(lane_token.ACCEPTED - {"grant_type"}):
                body = _encoded([(k, atom if k == place else v) for k, v in {**form, place: b""}.items()]).encode()
                status = world.driver.request("POST", "/oauth/token", body=body,
                                              headers={"authorization": world.basic()})[0]
                assert status < 500, (name, place, status)
            for user, password in ((atom, world.secret.encode()), (world.client_id.encode(), atom)):
                header = "Basic " + base64.b64encode(user + b":" + password).decode()
                status = world.driver.request("POST", "/oauth/token", body=urlencode(
                    {k: v.decode() for k, v in form.items()}).encode(), headers={"authorization": header})[0]
                assert status < 500 and status != 200, (name, status)
            assert world.driver.lane_answers == before or kind == "odd", name

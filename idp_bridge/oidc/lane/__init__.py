"""The SSO lane: a signed-in browser's authorization request and the code exchange that follows it, answered on
the worker's event loop (SPEC §16).

Every page a visitor opens after signing in costs the application one authorization request and one code
exchange. Through the threaded path each of them crosses from the event loop to a pool thread and back, and
runs Flask's request machinery and hooks around Authlib: about 0.35 ms of server CPU per request before any
OIDC work, as much as node-oidc-provider spends on a whole login. The lane answers those two requests on the
loop itself, with psycopg's asynchronous connections (:mod:`idp_bridge.asyncdb`).

It is an accelerator that can only say yes:

* it takes a request only in the plainest successful case (:func:`.authorize.plain_request`,
  :func:`.token.plain_request`); anything else, and anything it cannot decide from memory (a client, key or
  lock-out list not cached in this process: ``cache.memory_only``), goes to the threaded path unchanged, which
  then answers it from the start — errors, consent, prompts, CORS, every response mode;
* before it writes anything, the request has passed the input gate's checks (``input_gate.check_environ``) and
  Authlib's own validation with the same grant classes, extensions and client authentication as the threaded
  path; the code is spent only by a statement whose conditions are the token endpoint's checks of the code, so
  a request the lane gives up on has changed nothing;
* the rules stay where they are: Authlib's grants and hooks (validation, PKCE, token generation, the ID
  token), ``ClientRules``, the rows built by ``grants.code_values`` and ``grants.token_values``, the statements
  of ``sso`` and ``tokens`` (the same Core statements, compiled for psycopg), the response headers of
  ``security`` — nothing here decides anything the threaded path decides differently, and a differential test
  (``tests/oidc/test_lane.py``) sends both paths the same requests and compares the answers.

Only on PostgreSQL under ``idp-bridge serve``; ``IDP_BRIDGE_SSO_LANE=0`` turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from idp_bridge import cache, metrics
from idp_bridge.asyncdb import AsyncPool
from idp_bridge.config import settings_of
from idp_bridge.extensions import db
from idp_bridge.oidc import grants, tokens
from idp_bridge.oidc.lane import authorize, token
from idp_bridge.oidc.lane.http import Answer, Incoming, reader
from idp_bridge.plainsql import Plain
from idp_bridge.security import default_headers, input_gate

log = logging.getLogger(__name__)
#: the largest body the lane reads (a code exchange is a few hundred bytes); larger ones go the threaded way
BODY_LIMIT = 8192
Handler = Callable[["Lane", Incoming], Awaitable[Answer | None]]
ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "/oauth/authorize"): (authorize.ENDPOINT, authorize.authorize),
    ("POST", "/oauth/token"): (token.ENDPOINT, token.token),
}


@dataclass(frozen=True)
class Statements:
    """The lane's statements as psycopg takes them: the threaded path's own, compiled once."""

    insert_code_for_session: str
    consume_if_valid: str
    save_code_tokens: str

    @classmethod
    def compile(cls, dialect: Any) -> Statements:
        def sql(plain: Plain) -> str:
            text, literals = plain.sql_for(dialect)
            assert not literals, "lane statements bind every value"
            return text

        return cls(sql(grants.INSERT_CODE_FOR_SESSION), sql(tokens.CONSUME_IF_VALID), sql(tokens.SAVE_CODE_TOKENS))


class Lane:
    """The SSO lane of one worker (its pool lives on that worker's loop)."""

    def __init__(self, app: Flask, pool: AsyncPool) -> None:
        settings = settings_of(app)
        self.flask = app
        self.issuer = str(settings.issuer)
        with app.app_context():
            self.sql = Statements.compile(db.engine.dialect)
        self.pool = pool
        self.read = reader(settings.trust_proxy)
        self._defaults = tuple((name.lower(), name, value)
                               for name, value in default_headers(self.issuer.startswith("https://")))

    @classmethod
    def for_app(cls, app: Flask, pool: AsyncPool | None) -> Lane | None:
        """The lane for ``app`` on the worker's ``pool``, or None where it does not run (turned off, or no pool:
        not PostgreSQL)."""
        if pool is None or not settings_of(app).sso_lane:
            return None
        return cls(app, pool)

    @staticmethod
    def takes(scope: MutableMapping[str, Any]) -> bool:
        """Whether the request is one the lane may answer (it may still hand it on)."""
        return (scope.get("method"), scope.get("path")) in ROUTES and not scope.get("root_path")

    async def answer(self, scope: MutableMapping[str, Any], body: bytes) -> Answer | None:
        """The answer to the request, or None: the threaded path is to answer it."""
        started = time.perf_counter()
        endpoint, handler = ROUTES[(scope["method"], scope["path"])]
        incoming = self.read(scope, body)
        try:
            input_gate.check_environ(incoming.request.environ, incoming.request.cookies.items(multi=True))
            if body:
                input_gate.check_urlencoded(body, "form field")
        except input_gate.Malformed:
            return None  # the gate refuses it on the threaded path, with its answer and its log line
        try:
            with self.flask.app_context(), cache.memory_only():
                answer = await handler(self, incoming)
        except cache.NotCached:
            return None
        except Exception as exc:  # a database or programming error: the threaded path has the answers for both
            # one line per request during an outage; the traceback at DEBUG
            log.warning("SSO lane handed a request on after %s", type(exc).__name__,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            return None
        if answer is None:
            return None
        self._finish(answer, incoming.request_id)
        answer.client = incoming.request.remote_addr
        metrics.count_request(endpoint, answer.status, started)
        return answer

    def _finish(self, answer: Answer, request_id: str) -> None:
        """The headers the Flask hooks would add: the security defaults and the request id."""
        present = {name.lower() for name, _ in answer.headers}
        answer.headers.extend((name, value) for lower, name, value in self._defaults if lower not in present)
        answer.headers.append(("X-Request-Id", request_id))


"""The one place where an HTTP error or an unexpected exception becomes a response (DESIGN example 6).

Nothing here ever renders a stack trace: unexpected exceptions are logged with the request id and the
user sees a generic page or JSON body, as SPEC §11 promises. Protocol errors have their own single path
(``oidc/authorize.py`` for the authorization endpoint, Authlib for the token-side endpoints); expected
failures elsewhere raise werkzeug's HTTP exceptions, which land here.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def _loggable(text: str) -> str:
    """SPEC §15: nothing that reaches a log line can start a new line (control characters escaped)."""
    return "".join(ch if " " <= ch != "\x7f" else ch.encode("unicode_escape").decode("ascii") for ch in text)


def wants_json() -> bool:
    """API-ish paths and clients that prefer JSON get JSON; browsers get a page."""
    if request.path.startswith(("/oauth/", "/.well-known/", "/api/", "/connections/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, code: str, description: str) -> Response:
    if wants_json():
        response = jsonify({"error": code, "error_description": description})
    else:
        response = Response(
            render_template("errors/error.html", status=status, code=code, description=description),
            mimetype="text/html",
        )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _handle_http(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error  # redirects raised as exceptions pass through untouched
    code = (error.name or "error").lower().replace(" ", "_")
    return error_response(error.code, code, error.description or error.name)


def _handle_database_down(error: OperationalError) -> Response:
    """The database is unreachable: a clear, retryable 503 (WeChat re-delivers; browsers can reload)."""
    from idp_bridge.extensions import db

    db.session.rollback()
    log.error("database unavailable on %s %s: %s", request.method, _loggable(request.path),
              type(error.orig).__name__)
    response = error_response(503, "temporarily_unavailable",
                              "The service is temporarily unavailable. Please try again in a moment.")
    response.headers["Retry-After"] = "5"
    return response


def _handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException) and not isinstance(error, InternalServerError):
        return _handle_http(error)  # type: ignore[return-value]
    log.exception("unhandled error on %s %s", request.method, _loggable(request.path))
    return error_response(500, "server_error", "An unexpected error occurred. It has been logged.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)

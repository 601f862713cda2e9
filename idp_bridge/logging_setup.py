"""Logging: text or one JSON object per line, each line with the request id (SPEC §3).

Nothing that reaches a log line can start a new line (SPEC §15; CWE-117 log forging): both formatters
escape control characters and Unicode line separators in the message and its arguments, and every line of
a traceback in the text format is indented so that none can pass for a record of its own.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from idp_bridge.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
# C0, DEL and C1 controls (Unicode Cc) plus the characters str.splitlines() and many viewers break lines on
_ESCAPES = {c: _NAMED.get(chr(c), f"\\x{c:02x}") for c in [*range(0x20), *range(0x7F, 0xA0)]}
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_controls(text: str) -> str:
    """``text`` with every control character and line separator written as a visible escape (``\\r``)."""
    return text.translate(_ESCAPES)


def indent_block(text: str) -> str:
    """A multi-line block (a traceback) with each line's controls escaped and every line indented, so that
    none of it can look like the start of a record."""
    return "\n".join("    " + escape_controls(line) for line in text.split("\n"))


class TextFormatter(logging.Formatter):
    """The human-readable format, escaping what the record carries (message, arguments, exception)."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return indent_block(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return indent_block(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        # the exception text is cached on the record by logging.Formatter; build ours, not the raw one
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers. ``json.dumps`` escapes C0 controls itself; C1 controls
    and U+2028/U+2029 (line breaks to JavaScript and to ``str.splitlines``) are escaped as well."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, ensure_ascii=False).translate(_JSON_ESCAPES)


_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in [*range(0x7F, 0xA0), 0x2028, 0x2029]}


def request_id_for(incoming: str) -> str:
    """The client's ``X-Request-Id`` when it is a sane one, else a new id."""
    # ASCII only: str.isalnum() accepts "²" and other Unicode letters and digits
    return incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)


def configure_logging(app: Flask, settings: Settings) -> None:
    root = logging.getLogger("idp_bridge")
    if not any(getattr(h, "_idp_bridge", False) for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream._idp_bridge = True  # type: ignore[attr-defined]
        stream.addFilter(_RequestIdFilter())
        root.addHandler(stream)
        root.setLevel(logging.INFO)
    for existing in root.handlers:
        if getattr(existing, "_idp_bridge", False):
            existing.setFormatter(
                JsonFormatter()
                if settings.log_format == "json"
                else TextFormatter()
            )

    @app.before_request
    def _assign_request_id() -> None:
        g.request_id = request_id_for(request.headers.get("X-Request-Id", ""))

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers.setdefault("X-Request-Id", g.get("request_id", "-"))
        return response

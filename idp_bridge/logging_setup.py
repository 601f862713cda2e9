"""Logging: text or one JSON object per line, each line with the request id (SPEC §3)."""

from __future__ import annotations

import json
import logging
import secrets
import sys

from flask import Flask, Response, g, has_request_context, request

from idp_bridge.config import Settings


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

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
        return json.dumps(payload, ensure_ascii=False)


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
                else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
            )

    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        ok = 0 < len(incoming) <= 64 and incoming.replace("-", "").isalnum()
        g.request_id = incoming if ok else secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers.setdefault("X-Request-Id", g.get("request_id", "-"))
        return response

"""Cookie names and flags in one place: HttpOnly, SameSite=Lax, and ``Secure`` + ``__Host-`` under https."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from idp_bridge.config import current_settings


def _https() -> bool:
    return str(current_settings().issuer).startswith("https://")


def cookie_name(base: str) -> str:
    return f"__Host-{base}" if _https() else base


def read_cookie(base: str) -> str | None:
    value = request.cookies.get(cookie_name(base))
    return value if value and len(value) <= 256 else None


def set_cookie(response: Response, base: str, value: str, max_age: int | None) -> None:
    response.set_cookie(cookie_name(base), value, max_age=max_age, path="/", secure=_https(), httponly=True,
                        samesite="Lax")


def clear_cookie(response: Response, base: str) -> None:
    response.delete_cookie(cookie_name(base), path="/", secure=_https(), httponly=True, samesite="Lax")

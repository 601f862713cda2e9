"""The seam between the WeChat callback and the login flow: a verified login event, and who handles it.

The callback knows nothing of login sessions; the login package registers one handler per app. Keeping the
handler on the app (not a module global) keeps tests and several apps in one process independent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the callback and login packages pass the Flask app; this module stays framework-free
    from flask import Flask

_KEY = "idp_bridge.login_event_handler"


@dataclass(frozen=True)
class LoginEvent:
    """A verified, de-duplicated subscribe/SCAN push for one of our login scenes."""

    connection_id: int
    connection_identifier: str
    app_id: str
    openid: str
    scene: str
    kind: Literal["subscribe", "scan"]
    create_time: int
    ticket: str | None


LoginEventHandler = Callable[[LoginEvent], "str | None"]
#: Takes the push's claim (``wechat.claims``) when called: ``False`` for a re-delivery already processed
#: (the handler must then change nothing); raises when another worker is processing it right now.
ClaimPush = Callable[[], bool]
ClaimingLoginEventHandler = Callable[[LoginEvent, ClaimPush], "str | None"]
_CLAIMING_KEY = "idp_bridge.claiming_login_event_handler"


def set_login_event_handler(app: Flask, handler: LoginEventHandler) -> None:
    """Register the function that turns a login event into a login (returns the passive reply text); the
    callback claims the push before calling it."""
    app.extensions.pop(_CLAIMING_KEY, None)
    app.extensions[_KEY] = handler


def set_claiming_login_event_handler(app: Flask, handler: ClaimingLoginEventHandler) -> None:
    """Like :func:`set_login_event_handler`, for a handler that claims the push itself, and only when the push
    can change something: a scan of a scene that has no live login session is answered without writing a claim
    (its re-delivery would find nothing to do either)."""
    app.extensions.pop(_KEY, None)
    app.extensions[_CLAIMING_KEY] = handler


def claiming_login_event_handler(app: Flask) -> ClaimingLoginEventHandler | None:
    handler = app.extensions.get(_CLAIMING_KEY)
    return handler if callable(handler) else None


@dataclass(frozen=True)
class TextOutcome:
    """What the login package made of a chat text: whether it was a login text (a confirm code or a sign-in
    code attempt — then it is consumed, not passed on) and the passive reply, if any."""

    consumed: bool
    reply: str | None = None


TextHandler = Callable[[int, str, str], TextOutcome]
_TEXT_KEY = "idp_bridge.text_handler"


def set_text_handler(app: Flask, handler: TextHandler) -> None:
    """Register the function that receives chat texts (connection id, openid, content) on connections that
    confirm logins in WeChat or sign in by code; it reports whether it consumed the text."""
    app.extensions[_TEXT_KEY] = handler


def text_handler(app: Flask) -> TextHandler | None:
    handler = app.extensions.get(_TEXT_KEY)
    return handler if callable(handler) else None


def login_event_handler(app: Flask) -> LoginEventHandler | None:
    handler = app.extensions.get(_KEY)
    return handler if callable(handler) else None

"""Login-page errors, turned into responses in one place (the blueprint's error handlers in ``views``)."""

from __future__ import annotations


class LoginPageError(Exception):
    """Base class: something the login page cannot continue with."""


class PendingGone(LoginPageError):
    """The pending authorization expired, was completed, or belongs to another browser."""


class UnknownLoginSession(LoginPageError):
    """The status channel was asked about a login session this browser does not own."""


class TooManyStreams(LoginPageError):
    """A stream cap was reached (SPEC §15): the page falls back to polling after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many open status streams")
        self.retry_after = retry_after

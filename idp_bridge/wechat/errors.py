"""WeChat API errors as types with operator-readable messages (DESIGN example 6; PROTOCOL.md "API calls").

WeChat answers errors as HTTP 200 with ``{"errcode", "errmsg"}``; each code an operator can act on gets its
own class and a sentence that says what to do. Messages never contain secrets or access tokens.
"""

from __future__ import annotations

import re


class WeChatError(Exception):
    """An error answered by (or on the way to) the WeChat API."""

    errcode: int = 0
    hint = "WeChat refused the request."

    def __init__(self, errcode: int | None = None, errmsg: str = "") -> None:
        if errcode is not None:
            self.errcode = errcode
        self.errmsg = _scrub(errmsg)[:300]
        super().__init__(f"WeChat error {self.errcode}: {self.hint} ({self.errmsg or 'no message'})")


class WeChatBusy(WeChatError):
    errcode = -1
    hint = "WeChat is busy; the request was retried once."


class WeChatTokenInvalid(WeChatError):
    errcode = 40001
    hint = "The access token was rejected (invalid or expired); it was refreshed and the call retried once."


class WeChatIpNotWhitelisted(WeChatError):
    errcode = 40164
    hint = "This server's IP address is not on the account's IP whitelist."

    def __init__(self, errcode: int | None = None, errmsg: str = "") -> None:
        match = re.search(r"invalid ip ([0-9a-fA-F:.]+)", errmsg)
        if match:
            self.hint = (f"Add {match.group(1)} to the IP whitelist in the WeChat console "
                         "(Settings → Basic configuration → IP whitelist).")
        super().__init__(errcode, errmsg)


class WeChatQuotaExceeded(WeChatError):
    errcode = 45009
    hint = "The daily API quota of this account is used up; it resets at midnight (Beijing time)."


class WeChatNotAuthorized(WeChatError):
    errcode = 48001
    hint = "The API is not authorized: parametric QR codes need a verified service account."


class WeChatBadCredentials(WeChatError):
    errcode = 40125
    hint = "The AppID or AppSecret is wrong: check the connection's --app-id and --app-secret."


class WeChatOAuthCodeInvalid(WeChatError):
    errcode = 40029
    hint = ("The web-authorization code was refused (invalid, expired or already used): sign in again; if it "
            "keeps happening, check that the issuer's host is the account's web-authorization domain.")


class WeChatUnavailable(WeChatError):
    errcode = -2
    hint = "WeChat could not be reached or answered garbage."


_BY_CODE: dict[int, type[WeChatError]] = {
    -1: WeChatBusy,
    40001: WeChatTokenInvalid,
    40014: WeChatTokenInvalid,
    42001: WeChatTokenInvalid,
    40164: WeChatIpNotWhitelisted,
    45009: WeChatQuotaExceeded,
    48001: WeChatNotAuthorized,
    40013: WeChatBadCredentials,
    40125: WeChatBadCredentials,
    40029: WeChatOAuthCodeInvalid,
    40163: WeChatOAuthCodeInvalid,
}


def error_for(errcode: int, errmsg: str) -> WeChatError:
    return _BY_CODE.get(errcode, WeChatError)(errcode, errmsg)


def _scrub(text: str) -> str:
    """WeChat echoes request details in errmsg; never let a token or secret ride along."""
    return re.sub(r"(access_token|secret)=[^&\s,]+", r"\1=***", str(text))

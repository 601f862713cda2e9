"""The input gate: one early check that refuses malformed input before any view, lookup or log line sees it
(SPEC §15 "Malformed input", SPEC §11).

Refused with 400 ``invalid_request`` (JSON on the API paths, a small page elsewhere):

* in the path, query parameter names/values and form field names/values: bytes that are not UTF-8
  (RFC 3986 §2.5 and RFC 3629 — this includes percent-encoded lone surrogates such as ``%ED%A0%80``, which
  werkzeug would otherwise pass on as literal text or U+FFFD), the C0 controls, DEL and the C1 controls
  (Unicode general category Cc) and U+FFFD. TAB is refused here too: no parameter we accept may contain
  it (RFC 6749 Appendix A limits identifiers, codes and tokens to VSCHAR/NQCHAR), and CR/LF could forge
  log lines. PostgreSQL cannot store NUL in text at all, so a NUL reaching a query is a 500 otherwise;
* in any header value: the controls that RFC 9110 §5.5 excludes from a field value (everything below
  0x20 except HTAB, which is legal whitespace there, and DEL). Bytes ≥ 0x80 (obs-text) stay allowed in
  headers we do not read, and the ``Cookie`` header may carry other sites' non-ASCII cookies, but no HTAB
  (RFC 6265 §4.2.1 cookie-string);
* in the header values we read (``Authorization``, ``Last-Event-ID``, ``X-Request-Id``, ``Origin``) and
  our own cookies (after werkzeug's un-escaping of quoted values, where ``"\\000"`` becomes NUL): anything but
  printable ASCII, which is all their grammars allow (RFC 6750 §2.1 b64token, RFC 7617 token68, RFC 6454
  §6.1 serialized origin, RFC 6265 §4.1.1 cookie-octet, our numeric event ids);
* in ``Authorization: Basic``: credentials that are not UTF-8 or contain controls, before or after the
  percent-decoding of RFC 6749 §2.3.1 (RFC 7617 §2: user-id and password contain no CTL). Authlib decodes
  them strictly and would raise ``UnicodeDecodeError``;
* any single value (and the path) longer than :data:`MAX_VALUE_CHARS` characters: nothing legitimate comes
  near it (a JWT ``id_token_hint`` is 1–2 KB, ``state``/``nonce`` rarely over 2 KB) and 5,000-digit numbers
  are how integer parsing gets slow or crashes.

Refused with 415: ``multipart/form-data`` bodies. No endpoint accepts them (RFC 6749 §4.1.3 and §2.3.1,
RFC 7009 §2.1, RFC 7662 §2.1 and our HTML forms are ``application/x-www-form-urlencoded``), and werkzeug's
multipart parser silently drops or replaces undecodable fields, so their content could not be vouched for.

The WeChat callback's body is XML verified by the callback itself (WeChat message-encryption guide); the gate
checks its query but never reads or parses its body, whatever ``Content-Type`` it claims.
Non-ASCII digits ("²", "١") are ordinary text in parameters: numbers are checked where they are parsed
(:mod:`idp_bridge.numbers`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from flask import Flask, request
from werkzeug.wrappers import Response

from idp_bridge.errors import error_response

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 8192
DESCRIPTION = "The request contains characters or a length that is not allowed."
UNSUPPORTED_DESCRIPTION = "Send form fields as application/x-www-form-urlencoded."
#: endpoints whose body is verified by the view itself and must reach it unread
RAW_BODY_ENDPOINTS = frozenset({"wechat_callback.events"})
#: headers whose values views read; their length is bounded too (all headers are checked for controls)
READ_HEADERS = ("Authorization", "Last-Event-ID", "X-Request-Id", "Origin")
#: the same as PEP 3333 environ keys (what werkzeug's header lookup turns each name into)
_READ_HEADER_KEYS = tuple((name, "HTTP_" + name.upper().replace("-", "_")) for name in READ_HEADERS)
OUR_COOKIE_PREFIXES = ("idpb_", "__Host-idpb_")
#: the console's ``<textarea>`` fields (one value per line; a passive reply's text): a textarea submits its line
#: breaks as CRLF (HTML §4.10.11.3), so CR and LF are allowed there, and only there; every other control still
#: is refused. The console splits or normalises the lines before any rule or log line sees them.
CONSOLE_MULTILINE_FIELDS = frozenset({"redirect_uris", "logout_uris", "web_origins", "connections", "reply_text"})

_BAD_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ufffd]")
_BAD_HEADER = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_NOT_PRINTABLE_ASCII = re.compile("[^\x20-\x7e]")
_BAD_COOKIE_HEADER = re.compile("[\x00-\x1f\x7f]")
_MULTILINE_NAMES = frozenset(name.encode() for name in CONSOLE_MULTILINE_FIELDS)


class Malformed(ValueError):
    """The request carries input the gate refuses; the message names where (never the value)."""

    status = 400


class UnsupportedBody(Malformed):
    """A body type no endpoint accepts."""

    status = 415


def _text(raw: bytes, where: str) -> str:
    """``raw`` as strict UTF-8 text without controls or U+FFFD, within the length bound."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed(f"{where}: not UTF-8") from None
    check_text(text, where)
    return text


def check_text(text: str, where: str) -> None:
    """Refuse controls, U+FFFD and over-long values in already-decoded text."""
    if len(text) > MAX_VALUE_CHARS:
        raise Malformed(f"{where}: longer than {MAX_VALUE_CHARS} characters")
    if _BAD_TEXT.search(text):
        raise Malformed(f"{where}: control character or U+FFFD")


def urlencoded_pairs(data: bytes, where: str) -> Iterator[tuple[str, str]]:
    """Decode ``application/x-www-form-urlencoded`` (WHATWG URL §5.1, as werkzeug splits it: on ``&``)
    strictly, checking every name and value."""
    for part in data.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        yield (_text(unquote_to_bytes(name.replace(b"+", b" ")), f"{where} name"),
               _text(unquote_to_bytes(value.replace(b"+", b" ")), f"{where} value"))


def check_urlencoded(data: bytes, where: str) -> None:
    """Refuse a malformed query string or url-encoded form body.

    A body no longer than :data:`MAX_VALUE_CHARS` is checked in one piece: no value in it can exceed the bound,
    and the separators (``&``, ``=``) are ASCII, so splitting there can neither make an invalid UTF-8 sequence
    valid nor a valid one invalid, and controls are controls wherever they stand. Only when that finds something
    are the pairs decoded one by one, to name the culprit in the log line."""
    if len(data) <= MAX_VALUE_CHARS:
        try:
            _text(unquote_to_bytes(data.replace(b"+", b" ")), where)
            return
        except Malformed as whole:
            for _ in urlencoded_pairs(data, where):
                pass
            raise whole
    for _ in urlencoded_pairs(data, where):
        pass


def check_path(path_info: str) -> None:
    """PATH_INFO is WSGI's latin-1 view of the percent-decoded bytes (PEP 3333)."""
    _text(path_info.encode("latin-1", "replace"), "path")


def check_headers(environ: Mapping[str, object]) -> None:
    """Every header value (WSGI ``HTTP_*`` keys, PEP 3333) without the controls RFC 9110 §5.5 excludes."""
    for key, value in environ.items():
        if not (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) or not isinstance(value, str):
            continue
        if _BAD_HEADER.search(value):
            raise Malformed(f"header {key[5:] if key.startswith('HTTP_') else key}: control character")


def check_ascii(value: str, where: str) -> None:
    """Printable ASCII within the length bound."""
    if len(value) > MAX_VALUE_CHARS:
        raise Malformed(f"{where}: longer than {MAX_VALUE_CHARS} characters")
    if _NOT_PRINTABLE_ASCII.search(value):
        raise Malformed(f"{where}: not printable ASCII")


def check_basic_credentials(header: str) -> None:
    """RFC 7617 §2 credentials, also after RFC 6749 §2.3.1's form-encoding is undone."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        decoded = base64.b64decode(token.strip())
    except (binascii.Error, ValueError):
        return  # not credentials at all: the client authentication answers 401 invalid_client
    text = _text(decoded, "Basic credentials")
    for part in text.split(":", 1):
        check_text(unquote(part, errors="replace"), "Basic credentials")


def check_environ(environ: Mapping[str, Any], cookies: Iterable[tuple[str, str]]) -> None:
    """Raise :class:`Malformed` if the headers, path, query, credentials or our cookies of a PEP 3333
    ``environ`` are malformed (``cookies``: the parsed ``Cookie`` header's pairs, repeated names included)."""
    check_headers(environ)
    for name, key in _READ_HEADER_KEYS:
        value = environ.get(key)
        if value is not None:
            check_ascii(value, f"header {name}")
    header = environ.get("HTTP_COOKIE")
    if header is not None and (len(header) > MAX_VALUE_CHARS or _BAD_COOKIE_HEADER.search(header)):
        raise Malformed(f"header Cookie: control character or longer than {MAX_VALUE_CHARS} characters")
    check_path(environ.get("PATH_INFO", ""))
    check_urlencoded(environ.get("QUERY_STRING", "").encode("latin-1", "replace"), "query parameter")
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization:
        check_basic_credentials(authorization)
    if header:
        for name, value in cookies:
            if name.startswith(OUR_COOKIE_PREFIXES):
                check_ascii(value, f"cookie {name}")


def check_request() -> None:
    """Raise :class:`Malformed` if anything the views read is malformed."""
    req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not one per read
    environ = req.environ
    check_environ(environ, req.cookies.items(multi=True) if environ.get("HTTP_COOKIE") else ())
    if req.endpoint in RAW_BODY_ENDPOINTS:
        return
    mimetype = req.mimetype
    if mimetype == "multipart/form-data":
        raise UnsupportedBody("multipart/form-data body")
    if mimetype == "application/x-www-form-urlencoded" and req.method not in ("GET", "HEAD"):
        # cached: werkzeug parses request.form from the cached bytes afterwards
        body = req.get_data(cache=True)
        if req.blueprint == "admin":
            body = _without_textarea_breaks(body)
        check_urlencoded(body, "form field")


def _without_textarea_breaks(body: bytes) -> bytes:
    """The form body with the CR/LF of :data:`CONSOLE_MULTILINE_FIELDS` values taken out (for checking only)."""
    parts = []
    for part in body.split(b"&"):
        name, sep, value = part.partition(b"=")
        if unquote_to_bytes(name.replace(b"+", b" ")) in _MULTILINE_NAMES:
            value = re.sub(rb"%0[aAdD]", b"", value).replace(b"\r", b"").replace(b"\n", b"")
        parts.append(name + sep + value)
    return b"&".join(parts)


def _gate() -> Response | None:
    try:
        check_request()
    except Malformed as refused:
        log.info("refused malformed input (%s) on %s", refused, request.endpoint or "no route")
        if refused.status == 415:
            return error_response(415, "invalid_request", UNSUPPORTED_DESCRIPTION)
        return error_response(400, "invalid_request", DESCRIPTION)
    return None


def init_app(app: Flask) -> None:
    """Run the gate before every other ``before_request`` function of the app, blueprints included."""
    app.before_request_funcs.setdefault(None, []).insert(0, _gate)

"""The input gate (SPEC §15 "Malformed input", SPEC §11): NUL, control characters, bytes that are not UTF-8
(RFC 3629, e.g. encoded lone surrogates) and over-long values in the path, the query, form fields and the
header values we read are refused with 400 before any view runs, on both databases; legitimate traffic
(Chinese text, long ``state``/``nonce``, JWT-sized ``id_token_hint``) passes untouched.

Every request here crosses real HTTP; :mod:`tests.support.rawhttp` sends bytes that ordinary clients refuse.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import Flask

from tests.support.rawhttp import RawClient, RawResponse
from tests.support.rows import row_counts
from tests.support.world import REDIRECT, World, build_world

GATE_DESCRIPTION = "The request contains characters or a length that is not allowed."
C0_AND_DEL = [chr(c) for c in range(0x20) if c != 0x09] + ["\x7f"]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "simulator": True}


@pytest.fixture
def client(live_url: str) -> Iterator[RawClient]:
    parts = urlsplit(live_url)
    raw = RawClient(parts.hostname or "127.0.0.1", parts.port or 80)
    yield raw
    raw.close()


@pytest.fixture
def world(app: Flask, live_url: str) -> World:
    return build_world(app, live_url)


def _refused(response: RawResponse, *, json_body: bool) -> None:
    assert response.status == 400, (response.request_line, response.status, response.text[:300])
    assert "Traceback" not in response.text
    if json_body:
        assert response.headers["content-type"].startswith("application/json"), response.headers
        body = json.loads(response.body)
        assert body == {"error": "invalid_request", "error_description": GATE_DESCRIPTION}
    else:
        assert GATE_DESCRIPTION in response.text
    assert response.headers.get("cache-control") == "no-store"


# Reproduced as psycopg.DataError 500s on PostgreSQL (a NUL byte reaching a query parameter).
NUL_REPRODUCTIONS = [
    ("GET", "/oauth/authorize?client_id=a%00b", [], b"", True),
    ("GET", "/login/abc%00def", [], b"", False),
    ("POST", "/oauth/token",
     [("Authorization", "Basic " + base64.b64encode(b"a\x00:secret").decode()),
      ("Content-Type", "application/x-www-form-urlencoded")], b"grant_type=authorization_code&code=x", True),
    ("GET", "/apps/a%00b/try", [], b"", False),
    ("GET", "/oauth/logout?client_id=a%00", [], b"", True),
]


@pytest.mark.parametrize(("method", "target", "headers", "body", "json_body"), NUL_REPRODUCTIONS,
                         ids=["authorize-client_id", "login-path", "token-basic-user", "apps-path", "logout-client_id"])
def test_nul_bytes_are_refused_with_400_not_a_database_error(client: RawClient, method: str, target: str,
                                                             headers: list[tuple[str, str]], body: bytes,
                                                             json_body: bool) -> None:
    """SPEC §15: NUL is refused with 4xx on every route and both databases (PostgreSQL text cannot hold it)."""
    _refused(client.request(method, target, headers, body), json_body=json_body)


@pytest.mark.parametrize("char", C0_AND_DEL, ids=[f"U+{ord(c):04X}" for c in C0_AND_DEL])
def test_control_characters_are_refused_in_path_query_and_form(client: RawClient, char: str) -> None:
    """RFC 3986 carries them only percent-encoded; no identifier, code or token we accept contains one
    (RFC 6749 Appendix A: VSCHAR/NQCHAR), and CR/LF could forge log lines (SPEC §15)."""
    enc = quote(char, safe="")
    _refused(client.request("GET", f"/login/x{enc}y"), json_body=False)
    _refused(client.request("GET", f"/oauth/authorize?client_id=abc&state=s{enc}"), json_body=True)
    _refused(client.request("GET", f"/oauth/authorize?client_id=abc&st{enc}ate=s"), json_body=True)
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    _refused(client.request("POST", "/oauth/token", form, f"grant_type=authorization_code&code=a{enc}b".encode()),
             json_body=True)
    _refused(client.request("POST", "/oauth/revoke", form, f"tok{enc}en=abc".encode()), json_body=True)


def test_tab_is_refused_in_parameters_but_allowed_in_headers_we_do_not_read(client: RawClient) -> None:
    """HTAB is legal whitespace inside an HTTP field value (RFC 9110 §5.5) but in no parameter we accept and
    in none of the header grammars we read."""
    _refused(client.request("GET", "/oauth/authorize?client_id=a%09b"), json_body=True)
    _refused(client.request("POST", "/oauth/userinfo", [("Authorization", "Bearer ab\tcd")]), json_body=True)
    assert client.request("GET", "/healthz", [("User-Agent", "Mozilla/5.0\t(X11)")]).status == 200
    assert client.request("GET", "/healthz", [("Accept-Language", b"zh-CN,zh;q=0.9" + "，".encode()),
                                              ("Cookie", "other=张".encode())]).status == 200


@pytest.mark.parametrize("value", ["², ".encode(), b"\xff", "张".encode(), b"1\x85"], ids=["sup2", "ff", "zh", "c1"])
def test_non_ascii_is_refused_in_the_header_values_we_read(client: RawClient, value: bytes) -> None:
    """Bearer tokens (RFC 6750 §2.1), origins (RFC 6454 §6.1), our cookies (RFC 6265 §4.1.1) and event ids
    are printable ASCII by their grammar; anything else is refused rather than looked up."""
    _refused(client.request("POST", "/oauth/userinfo", [("Authorization", b"Bearer " + value)]), json_body=True)
    _refused(client.request("GET", "/login/abc/events?ls=x", [("Last-Event-ID", value)]), json_body=False)
    _refused(client.request("GET", "/oauth/authorize?client_id=x", [("Cookie", b"idpb_sso=" + value)]),
             json_body=True)
    _refused(client.request("GET", "/.well-known/openid-configuration", [("Origin", b"http://" + value)]),
             json_body=True)


@pytest.mark.parametrize("char", [c for c in C0_AND_DEL if c not in "\r\n"],
                         ids=[f"U+{ord(c):04X}" for c in C0_AND_DEL if c not in "\r\n"])
def test_control_characters_are_refused_in_the_header_values_we_read(client: RawClient, char: str) -> None:
    """RFC 9110 §5.5: a field value is VCHAR/obs-text with SP and HTAB inside; anything else is malformed."""
    raw = char.encode("latin-1")
    _refused(client.request("POST", "/oauth/userinfo", [("Authorization", b"Bearer ab" + raw + b"cd")]),
             json_body=True)
    _refused(client.request("GET", "/login/abc/events?ls=x", [("Last-Event-ID", b"1" + raw)]), json_body=False)
    _refused(client.request("GET", "/oauth/authorize?client_id=x", [("Cookie", b"idpb_sso=a" + raw + b"b")]),
             json_body=True)
    _refused(client.request("GET", "/healthz", [("X-Request-Id", b"id" + raw)]), json_body=False)
    _refused(client.request("GET", "/healthz", [("Cookie", b"other=a" + raw)]), json_body=False)


def test_escaped_nul_in_a_quoted_cookie_is_refused(client: RawClient) -> None:
    """Werkzeug unescapes ``\\000`` inside a quoted cookie value (RFC 2109 style) into a real NUL."""
    _refused(client.request("GET", "/oauth/authorize?client_id=x", [("Cookie", 'idpb_browser="a\\000b"')]),
             json_body=True)


@pytest.mark.parametrize("credentials", [b"a\x00:secret", b"abc:se\x01cret", b"a%00b:secret", b"\xff\xfe:x",
                                         b"ok:%0d%0a"], ids=["nul-user", "ctl-pass", "encoded-nul-user",
                                                             "not-utf8", "encoded-crlf-pass"])
def test_basic_credentials_with_controls_or_bad_utf8_are_refused(client: RawClient, credentials: bytes) -> None:
    """RFC 7617 §2: user-id and password contain no control characters; RFC 6749 §2.3.1 form-encodes them
    first, so the percent-decoded form is checked too."""
    header = ("Authorization", "Basic " + base64.b64encode(credentials).decode())
    form = ("Content-Type", "application/x-www-form-urlencoded")
    _refused(client.request("POST", "/oauth/token", [header, form], b"grant_type=authorization_code&code=x"),
             json_body=True)


@pytest.mark.parametrize("encoded", ["%ED%A0%80", "%ED%BF%BF", "%FF", "%C0%AF", "%E4%B8"],
                         ids=["lone-high-surrogate", "lone-low-surrogate", "ff", "overlong-slash", "truncated"])
def test_bytes_that_are_not_utf8_are_refused(client: RawClient, encoded: str) -> None:
    """RFC 3986 §2.5 / RFC 3629: percent-encoded text is UTF-8; encoded surrogates and stray bytes are not,
    and werkzeug would silently turn them into U+FFFD."""
    _refused(client.request("GET", f"/oauth/authorize?client_id=a{encoded}"), json_body=True)
    _refused(client.request("GET", f"/login/a{encoded}"), json_body=False)
    _refused(client.request("POST", "/oauth/token", [("Content-Type", "application/x-www-form-urlencoded")],
                            f"grant_type=a{encoded}".encode()), json_body=True)


def test_values_over_8_kib_are_refused_with_a_4xx(client: RawClient) -> None:
    """10 kB values get a clear 4xx (not a 500, not a 5000-digit integer parse)."""
    big = "9" * 10_000
    _refused(client.request("GET", f"/oauth/authorize?client_id=abc&max_age={big}"), json_body=True)
    _refused(client.request("GET", f"/oauth/authorize?client_id=abc&{'k' * 10_000}=v"), json_body=True)
    _refused(client.request("POST", "/oauth/token", [("Content-Type", "application/x-www-form-urlencoded")],
                            f"grant_type=authorization_code&code={big}".encode()), json_body=True)
    _refused(client.request("POST", "/oauth/userinfo", [("Authorization", "Bearer " + "a" * 10_000)]),
             json_body=True)
    _refused(client.request("GET", "/login/abc/events?ls=x", [("Last-Event-ID", big)]), json_body=False)
    response = client.request("GET", "/login/" + "a" * 10_000)
    assert 400 <= response.status < 500, response.status


def test_wechat_callback_body_is_left_to_the_callback(client: RawClient) -> None:
    """The callback verifies its own XML body (WeChat message-encryption guide); the gate checks its query
    but never parses or consumes the body, whatever Content-Type it claims."""
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    response = client.request("POST", "/connections/social/acme/events?signature=a&timestamp=1&nonce=n", form,
                              b"<xml><a>%00\x01</a></xml>")
    assert GATE_DESCRIPTION not in response.text
    assert response.status < 500
    _refused(client.request("POST", "/connections/social/acme/events?signature=a%00", form, b"<xml/>"),
             json_body=True)


def test_multipart_bodies_are_refused_with_415(client: RawClient) -> None:
    """Token, revocation and introspection requests are application/x-www-form-urlencoded (RFC 6749 §4.1.3,
    RFC 7009 §2.1, RFC 7662 §2.1), as are our HTML forms; werkzeug would silently drop undecodable multipart
    fields, so multipart is not accepted anywhere."""
    body = b'--b\r\nContent-Disposition: form-data; name="\xe4\xb8"\r\n\r\nv\r\n--b--\r\n'
    response = client.request("POST", "/oauth/token", [("Content-Type", "multipart/form-data; boundary=b")], body)
    assert response.status == 415 and json.loads(response.body)["error"] == "invalid_request", response.text


def test_legitimate_requests_pass_the_gate(world: World, client: RawClient) -> None:
    """Chinese ``state``/``ui_locales``, 2 KB ``state`` and ``nonce``, a JWT-sized ``id_token_hint`` and TAB
    in a header value are ordinary traffic (OIDC Core §3.1.2.1)."""
    params = {**world.authorize_params(), "state": "状态-" + "s" * 2000, "nonce": "n" * 2048,
              "ui_locales": "zh-CN en", "login_hint": "张三"}
    response = client.request("GET", "/oauth/authorize?" + urlencode(params))
    assert response.status == 303 and "/login/" in response.headers["location"], (response.status, response.text)
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"k1"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "x" * 600, "aud": world.client_id}).encode()).rstrip(b"=")
    hint = f"{header}.{payload.decode()}.{'s' * 342}"
    assert 1000 < len(hint) < 2048
    response = client.request("GET", "/oauth/authorize?" + urlencode({**params, "id_token_hint": hint}))
    assert response.status in (302, 303), (response.status, response.text[:300])  # a login or an error redirect
    response = client.request("GET", f"/login/{world.pending_id}?lang=zh", [("Cookie", world.browser_cookies)])
    assert response.status == 200, response.text[:300]
    # the gate read the form body; the token endpoint still sees every field (RFC 6749 §4.1.3, §5.2)
    form = [("Authorization", world.basic), ("Content-Type", "application/x-www-form-urlencoded")]
    response = client.request("POST", "/oauth/token", form,
                              f"grant_type=authorization_code&code=unknown&redirect_uri={quote(REDIRECT)}".encode())
    assert (response.status, json.loads(response.body)["error"]) == (400, "invalid_grant"), response.text
    response = client.request("POST", "/oauth/revoke", form, "token=未知&token_type_hint=access_token".encode())
    assert response.status == 200, response.text


def test_refusals_write_nothing(app: Flask, world: World, client: RawClient) -> None:
    """A refused request changes no row, not even a rate counter: the gate runs before any view."""
    before = row_counts(app)
    for _ in range(3):
        _refused(client.request("GET", "/oauth/authorize?" + urlencode({**world.authorize_params(), "nonce": "a\x00"})),
                 json_body=True)
        _refused(client.request("POST", "/oauth/token", [("Authorization", world.basic),
                                                         ("Content-Type", "application/x-www-form-urlencoded")],
                                b"grant_type=authorization_code&code=%00"), json_body=True)
        _refused(client.request("GET", f"/login/{world.pending_id}?connection=a%0d%0a",
                                [("Cookie", world.browser_cookies)]), json_body=False)
    assert row_counts(app) == before

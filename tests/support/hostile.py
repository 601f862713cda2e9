"""Hostile raw-byte requests against every route of the app (SPEC §11, §15 "Malformed input").

Every rule of ``app.url_map`` is enumerated (new routes join by themselves) and placed in a real context — a
registered application, a browser with a pending authorization and a login session, a signed-in browser
for ``/oauth/authorize`` — so each request reaches the code behind the first lookup. One hostile value
("atom") at a time goes into one place: a path variable, a query value or name, a form value or name
(url-encoded or multipart), ``Authorization`` (Basic user, Basic password, Bearer), ``Last-Event-ID`` or
one of our cookies. Every atom goes to every route, each time into a third of the route's places, rotating
so that across routes each atom meets each place (:func:`attacks`).

Atoms come in two kinds. *Refused* atoms (C0 controls, DEL, C1, bytes that are not UTF-8 such as encoded
lone surrogates, U+FFFD, values over 8 KiB) must get the input gate's 400 wherever they are. *Odd* atoms
(non-ASCII digits, over-long and signed numbers, injection strings, Chinese, emoji, separators) are valid
text in parameters: there they must get an ordinary answer, never a 5xx; in the headers we read, whose
grammars are ASCII, the gate refuses them too.
"""

from __future__ import annotations

import base64
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from flask import Flask
from werkzeug.sansio.http import parse_cookie

from tests.support.world import ORIGIN, REDIRECT, World

CONTROLS = [bytes([c]) for c in range(0x20)] + [b"\x7f"]
REFUSED_ATOMS: list[tuple[str, bytes]] = [
    *[(f"ctl-{c[0]:02x}", b"a" + c + b"b") for c in CONTROLS],
    ("c1-nel", "a\u0085b".encode()),
    ("surrogate-high", b"a\xed\xa0\x80b"),
    ("surrogate-low", b"\xed\xbf\xbf"),
    ("byte-ff", b"\xff\xfe"),
    ("overlong-slash", b"\xc0\xaf"),
    ("truncated-utf8", b"\xe4\xb8"),
    ("replacement-char", "\ufffd".encode()),
    ("10k-digits", b"9" * 10_000),
    ("10k-letters", b"A" * 10_240),
    ("crlf-forge", b"x\r\n2026-01-01 00:00:00,000 ERROR forged"),
]
ODD_ATOMS: list[tuple[str, bytes]] = [
    ("superscript-2", "²".encode()),
    ("arabic-indic-1", "١".encode()),
    ("fullwidth-5", "５".encode()),
    ("nko-0", "߀".encode()),
    ("negative", b"-1"),
    ("hex", b"0x10"),
    ("exponent", b"1e3"),
    ("plus", b"+1"),
    ("space-digit", b" 1"),
    ("20-digits", b"99999999999999999999"),
    ("5000-digits", b"9" * 5000),
    ("8k-limit", b"B" * 8192),
    ("empty", b""),
    ("chinese", "张三 状态".encode()),
    ("emoji", "🙂".encode() * 20),
    ("line-separator", "a\u2028b\u2029c".encode()),
    ("rtl-override", "\u202eabc".encode()),
    ("percent", b"%"),
    ("percent-pair", b"%%41"),
    ("sql", b"' OR 1=1 --"),
    ("html", b"<script>alert(1)</script>"),
    ("traversal", b"../../etc/passwd"),
    ("template", b"{{7*7}}${7*7}"),
    ("quote", b'"\\'),
]
# OAuth 2.0 / OIDC Core §3.1.2.1 authorization parameters, RFC 7636, RFC 9207 and our own
AUTHORIZE_PARAMS = ["client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "max_age", "prompt",
                    "id_token_hint", "login_hint", "ui_locales", "display", "response_mode", "acr_values", "claims",
                    "code_challenge", "code_challenge_method", "request", "request_uri", "_resume"]
OTHER_PARAMS = ["grant_type", "code", "code_verifier", "refresh_token", "token", "token_type_hint", "client_secret",
                "post_logout_redirect_uri", "ls", "lang", "connection", "retry", "signature", "timestamp", "nonce",
                "echostr", "openid", "msg_signature", "encrypt_type", "csrf_token", "decision", "pending_id"]
MULTIPART_SHARE = 0.1
EVERY = 3  # each atom goes to every third place of a route (:func:`attacks`): about 15,000 requests in all
# endpoints that, given ordinary input, legitimately end the shared pending authorization
ENDS_THE_WORLD = {"login.cancel"}
_PARAM_READ = re.compile(r"""(?:args|form|values|params|query)\.get\(\s*["']([A-Za-z_]+)["']""")


def params_read_by_the_code() -> list[str]:
    """Every parameter name the package reads with ``.get("…")``, plus the standard ones above."""
    package = Path(__file__).resolve().parents[2] / "idp_bridge"
    found = {m.group(1) for f in package.rglob("*.py") for m in _PARAM_READ.finditer(f.read_text("utf-8"))}
    return sorted(found | set(AUTHORIZE_PARAMS) | set(OTHER_PARAMS))


@dataclass
class Attack:
    method: str
    target: bytes
    headers: list[tuple[str, bytes]]
    body: bytes
    expect: int | None  # the gate's answer (400 refused, 415 multipart), or None: anything but a 5xx
    label: str
    ends_world: bool = False  # may legitimately end the pending authorization: sent last


@dataclass
class Context:
    """A route in a real state: path, base query, base form and the browser's headers."""

    name: str
    method: str
    template: str  # the rule with a ``{}`` for each of its variables, if any
    path_value: str
    query: dict[str, str]
    form: dict[str, str] | None
    headers: list[tuple[str, bytes]]
    raw_body: bool = False  # the view reads its own body (not a form): the gate leaves it alone
    ends_world: bool = False


def _path_values(world: World, static_file: str) -> dict[str, str]:
    return {"pending_id": world.pending_id, "ticket": world.ticket, "client_id": world.client_id,
            "identifier": "acme", "filename": static_file}


def contexts(app: Flask, world: World) -> list[Context]:
    """One context per (rule, method), and a signed-in variant of the authorization endpoint."""
    static_file = next(p.name for p in Path(app.static_folder or ".").iterdir() if p.is_file())
    values = _path_values(world, static_file)
    browser = [("Cookie", world.browser_cookies.encode())]
    basic = [("Authorization", world.basic.encode())]
    found = []
    for rule in app.url_map.iter_rules():
        variables = re.findall(r"<(?:[^:>]+:)?([^>]+)>", rule.rule)
        template = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "{}", rule.rule)
        endpoint = rule.endpoint
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            query: dict[str, str] = {}
            form: dict[str, str] | None = {} if method == "POST" else None
            headers: list[tuple[str, bytes]] = list(browser)
            if endpoint == "oidc.authorize":
                query = world.authorize_params()
            elif endpoint in ("login.events", "login.complete"):
                query = {"ls": world.login_session}
            elif endpoint == "oidc.logout":
                query = {"client_id": world.client_id, "post_logout_redirect_uri": ORIGIN + "/bye", "state": "s"}
            elif endpoint == "wechat_callback.events":
                query = {"signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "123", "openid": "oX",
                         "encrypt_type": "aes", "msg_signature": "0" * 40}
            if endpoint == "oidc.token" and form is not None:
                form = {"grant_type": "authorization_code", "code": "c" * 43, "redirect_uri": REDIRECT,
                        "code_verifier": world.verifier}
                headers += basic
            elif endpoint in ("oidc.revoke", "oidc.introspect") and form is not None:
                form = {"token": "t" * 43, "token_type_hint": "access_token"}
                headers += basic
            elif endpoint == "login.bind_code" and form is not None:
                form = {"code": "123456", "csrf_token": "x" * 43}
            elif endpoint == "oidc.consent" and form is not None:
                form = {"pending_id": world.pending_id, "decision": "allow", "csrf_token": "x" * 43}
            path_value = values.get(variables[0], "x") if variables else ""
            found.append(Context(f"{method} {rule.rule}", method, template, path_value, query, form, headers,
                                 raw_body=endpoint == "wechat_callback.events",
                                 ends_world=endpoint in ENDS_THE_WORLD))
            if endpoint == "oidc.authorize":
                found.append(Context(f"{method} {rule.rule} (signed in)", method, template, "",
                                     {**query, "max_age": "3600", "prompt": "none"}, form,
                                     [("Cookie", world.sso_cookies.encode())]))
    return found


def _q(value: str | bytes) -> str:
    return quote_from_bytes(value, safe="") if isinstance(value, bytes) else quote(value, safe="")


def _encode(pairs: list[tuple[str | bytes, str | bytes]]) -> str:
    return "&".join(f"{_q(k)}={_q(v)}" for k, v in pairs)


def _multipart(pairs: list[tuple[str | bytes, str | bytes]]) -> tuple[bytes, bytes]:
    boundary = b"hostileBoundary7MA4YWxk"
    parts = []
    for name, value in pairs:
        raw_name = name if isinstance(name, bytes) else name.encode()
        raw_value = value if isinstance(value, bytes) else value.encode()
        parts.append(b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + raw_name + b'"\r\n\r\n'
                     + raw_value + b"\r\n")
    return b"".join(parts) + b"--" + boundary + b"--\r\n", b"multipart/form-data; boundary=" + boundary


def _header_bytes(atom: bytes) -> bytes:
    """Raw bytes for a header value; CR and LF become an obsolete line fold (RFC 9112 §5.2) so that they still
    reach the server inside the one field instead of ending it."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n ", atom)


Pairs = list[tuple[str | bytes, str | bytes]]


def header_expectation(value: bytes, *, cookie: str | None = None) -> int | None:
    """What the gate answers to ``value`` in a header we read (or as ``cookie``'s value): 400 for controls
    (HTAB too: none of their grammars has it), non-ASCII and over-long values; otherwise nothing in particular.
    A CR/LF travels as an obsolete line fold, which the server turns into SP (RFC 9112 §5.2); werkzeug drops a
    cookie it cannot parse before anything reads it."""
    if re.search(rb"[\r\n]", value):
        return None
    if re.search(rb"[\x00-\x1f\x7f]", value) or len(value) > 8192:
        return 400
    if cookie is not None:
        value = (parse_cookie(value.decode("latin-1")).get(cookie) or "").encode("latin-1")
    return 400 if re.search(rb"[\x80-\xff]", value) else None


def _attack(ctx: Context, where: str, rng: random.Random, *, refused: bool, path: str, query: Pairs,
            form: Pairs | None, headers: list[tuple[str, bytes]], in_body: bool = False,
            expect: int | None = None) -> Attack:
    target = path + ("?" + _encode(query) if query else "")
    hdrs = list(headers)
    body = b""
    expect = 400 if refused else expect
    if form is not None and ctx.method == "POST":
        if rng.random() < MULTIPART_SHARE:
            body, ctype = _multipart(form)
            # the gate checks path, query and headers first; a multipart body itself gets 415
            expect = expect if ctx.raw_body or (expect == 400 and not in_body) else 415
        else:
            body, ctype = _encode(form).encode(), b"application/x-www-form-urlencoded"
        hdrs.append(("Content-Type", ctype))
    return Attack(ctx.method, target.encode("ascii"), hdrs, body, expect, f"{ctx.name} {where}", ctx.ends_world)


def attacks(ctx: Context, atoms: list[tuple[str, bytes]], refused: bool, names: list[str],
            rng: random.Random, rotation: int = 0) -> Iterator[Attack]:
    """Every atom for one context, each in every :data:`EVERY`-th of the context's places: atom *a* goes to
    the places *p* with ``(a + p + rotation) % EVERY == 0``. Each place of the route gets a share of every kind
    of atom, and with ``rotation`` differing per route every atom meets every place across the routes (the
    gate's rules do not depend on the route, the views' lookups do not depend on which control byte it is)."""
    for index, (label, atom) in enumerate(atoms):
        for place, attack in enumerate(_placements(ctx, label, atom, refused, names, rng)):
            if (index + place + rotation) % EVERY == 0:
                yield attack


def _placements(ctx: Context, label: str, atom: bytes, refused: bool, names: list[str],
                rng: random.Random) -> Iterator[Attack]:
    """Every placement of one atom in one context."""
    path = ctx.template.replace("{}", _q(ctx.path_value))  # every variable of the rule (some rules have two)
    query: Pairs = list(ctx.query.items())
    form: Pairs | None = list(ctx.form.items()) if ctx.form is not None else None
    plain = {"path": path, "query": query, "form": form, "headers": ctx.headers}
    param_names = AUTHORIZE_PARAMS if "/oauth/authorize" in ctx.name else None
    if "{}" in ctx.template:
        hostile_path = ctx.template.replace("{}", _q(atom))
        # the gate bounds the whole decoded path: an atom at the limit behind a prefix is over it
        too_long = len(unquote_to_bytes(hostile_path)) > 8192
        yield _attack(ctx, f"path {label}", rng, refused=refused or too_long, **{**plain, "path": hostile_path})
    for name in param_names or [rng.choice(names)]:
        hostile_query: Pairs = [(k, v) for k, v in query if k != name] + [(name, atom)]
        yield _attack(ctx, f"query[{name}] {label}", rng, refused=refused, **{**plain, "query": hostile_query})
    yield _attack(ctx, f"query-name {label}", rng, refused=refused, **{**plain, "query": [*query, (atom, "v")]})
    if form is not None:
        name = rng.choice([*(ctx.form or {}), *names])
        gate_sees_it = refused and not ctx.raw_body
        hostile_form: Pairs = [(k, v) for k, v in form if k != name] + [(name, atom)]
        yield _attack(ctx, f"form[{name}] {label}", rng, refused=gate_sees_it, in_body=True,
                      **{**plain, "form": hostile_form})
        yield _attack(ctx, f"form-name {label}", rng, refused=gate_sees_it, in_body=True,
                      **{**plain, "form": [*form, (atom, "v")]})
    without_auth = [(k, v) for k, v in ctx.headers if k != "Authorization"]
    kind = rng.choice(["basic-user", "basic-password", "bearer"])
    if kind == "bearer":
        credentials = b"Bearer " + _header_bytes(atom)
        expect = header_expectation(credentials)
    else:
        credentials = b"Basic " + base64.b64encode(atom + b":secret" if kind == "basic-user" else b"c:" + atom)
        expect = 400 if refused or len(credentials) > 8192 else None
    yield _attack(ctx, f"authorization-{kind} {label}", rng, refused=False, expect=expect,
                  **{**plain, "headers": [*without_auth, ("Authorization", credentials)]})
    yield _attack(ctx, f"last-event-id {label}", rng, refused=False, expect=header_expectation(atom),
                  **{**plain, "headers": [*ctx.headers, ("Last-Event-ID", _header_bytes(atom))]})
    cookie = rng.choice(["idpb_browser", "idpb_sso", "idpb_session"])
    without_cookie = [(k, v) for k, v in ctx.headers if k != "Cookie"]
    jar = ("Cookie", cookie.encode() + b"=" + _header_bytes(atom))
    yield _attack(ctx, f"cookie[{cookie}] {label}", rng, refused=False,
                  expect=header_expectation(cookie.encode() + b"=" + atom, cookie=cookie),
                  **{**plain, "headers": [*without_cookie, jar]})


def battery(app: Flask, world: World, seed: int = 20261126) -> tuple[list[Attack], list[Attack]]:
    """(attacks the gate must refuse, attacks it must pass on), each in a reproducible shuffled order.

    Partitioned by expected answer, not by atom: an odd atom in a header we read is refused, and a CR/LF that
    the server unfolds into SP leaves an ordinary request."""
    rng = random.Random(seed)
    names = params_read_by_the_code()
    everything: list[Attack] = []
    for rotation, ctx in enumerate(contexts(app, world)):
        everything += attacks(ctx, REFUSED_ATOMS, True, names, rng, rotation)
        everything += attacks(ctx, ODD_ATOMS, False, names, rng, rotation)
    refused = [a for a in everything if a.expect is not None]
    passed_on = [a for a in everything if a.expect is None]
    rng.shuffle(refused)
    rng.shuffle(passed_on)
    passed_on.sort(key=lambda a: a.ends_world)  # stable: still shuffled, the world-ending ones last
    return refused, passed_on

"""The simulated WeChat over HTTP: the API calls the bridge makes, a "phone" page per QR code, and a small
control API for tests. Shapes and error codes follow WeChat's documentation (shared/wechat/PROTOCOL.md)."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request, url_for

from idp_bridge.simulator.push import build_push, read_reply, render_event_xml, render_text_message
from idp_bridge.simulator.state import Failure, SimAccount, SimState, Ticket, openid_for, unionid_for
from idp_bridge.wechat import messages

bp = Blueprint("simulator", __name__)
_STATE = "idp_bridge.simulator_state"
_SOURCE = "idp_bridge.simulator_accounts"


def state() -> SimState:
    return current_app.extensions[_STATE]


def _accounts() -> dict[str, SimAccount]:
    source: Callable[[], dict[str, SimAccount]] | None = current_app.extensions.get(_SOURCE)
    sim = state()
    if source is not None:
        with sim.lock:
            sim.accounts = source()
    return sim.accounts


def _wechat_error(errcode: int, errmsg: str) -> Response:
    return jsonify(errcode=errcode, errmsg=errmsg)


def _injected(endpoint: str) -> Response | None:
    sim = state()
    sim.calls[endpoint] += 1
    delay = sim.delays.get(endpoint, 0.0)
    failure = sim.take_failure(endpoint)
    if delay:
        time.sleep(delay)
    if failure is not None:
        if failure.delay:
            time.sleep(failure.delay)
        if failure.errcode:
            message = {40164: f"invalid ip {request.remote_addr} ipv6 ::ffff:{request.remote_addr}, not in whitelist",
                       -1: "system error", 45009: "reach max api daily quota limit",
                       48001: "api unauthorized", 40001: "invalid credential, access_token is invalid"}
            return _wechat_error(failure.errcode, message.get(failure.errcode, "simulated error"))
    return None


def _token_app() -> str | Response:
    app_id = state().token_valid(request.args.get("access_token", ""))
    if app_id is None:
        return _wechat_error(40001, "invalid credential, access_token is invalid or not latest")
    return app_id


def _secret_checked(endpoint: str) -> SimAccount | Response:
    """The account named by ``appid`` and proven by ``secret`` in the query (after injected failures)."""
    if (failure := _injected(endpoint)) is not None:
        return failure
    account = _accounts().get(request.args.get("appid", ""))
    if account is None or request.args.get("secret") != account.app_secret:
        return _wechat_error(40125, "invalid appsecret")
    return account


@bp.post("/cgi-bin/stable_token")
def stable_token() -> Response:
    if (failure := _injected("stable_token")) is not None:
        return failure
    body = request.get_json(silent=True) or {}
    account = _accounts().get(str(body.get("appid", "")))
    if body.get("grant_type") != "client_credential" or account is None:
        return _wechat_error(40013, "invalid appid")
    if body.get("secret") != account.app_secret:
        return _wechat_error(40125, "invalid appsecret")
    token, expires_in = state().issue_token(account.app_id, bool(body.get("force_refresh")), stable=True)
    return jsonify(access_token=token, expires_in=expires_in)


@bp.get("/cgi-bin/token")
def legacy_token() -> Response:
    account = _secret_checked("token")
    if isinstance(account, Response):
        return account
    token, expires_in = state().issue_token(account.app_id, True, stable=False)
    return jsonify(access_token=token, expires_in=expires_in)


@bp.post("/cgi-bin/qrcode/create")
def qrcode_create() -> Response:
    if (failure := _injected("qrcode_create")) is not None:
        return failure
    app_id = _token_app()
    if isinstance(app_id, Response):
        return app_id
    body = request.get_json(silent=True) or {}
    scene = ((body.get("action_info") or {}).get("scene") or {}).get("scene_str")
    if body.get("action_name") != "QR_STR_SCENE" or not isinstance(scene, str) or not 1 <= len(scene) <= 64:
        return _wechat_error(40097, "invalid args")
    expire = int(body.get("expire_seconds") or 60)
    ticket = "gQ" + secrets.token_urlsafe(40)
    with state().lock:
        state().tickets[ticket] = Ticket(app_id, scene, time.time() + expire)
    return jsonify(ticket=ticket, expire_seconds=expire,
                   url=url_for("simulator.phone", ticket=ticket, _external=True))


@bp.get("/cgi-bin/user/info")
def user_info() -> Response:
    if (failure := _injected("user_info")) is not None:
        return failure
    app_id = _token_app()
    if isinstance(app_id, Response):
        return app_id
    openid = request.args.get("openid", "")
    account = _accounts()[app_id]
    with state().lock:
        known = {o: u for (a, o), u in state().people.items() if a == app_id}
        following = (app_id, openid) in state().follows
    if openid not in known:
        return _wechat_error(40003, "invalid openid")
    body: dict[str, Any] = {"subscribe": 1 if following else 0, "openid": openid, "nickname": "", "headimgurl": "",
                            "subscribe_time": int(time.time()), "remark": "", "tagid_list": []}
    if account.open_platform:
        body["unionid"] = unionid_for(known[openid])
    return jsonify(body)


def act(ticket_id: str, user: str, action: str, content: str = "") -> dict[str, Any]:
    """What a person does on the phone: follow, scan (already following), unfollow, or send a chat text."""
    sim = state()
    with sim.lock:
        ticket = sim.tickets.get(ticket_id)
    if ticket is None:
        return {"status": "unknown_ticket", "reply": None}
    if ticket.expires_at < time.time() and action != "unfollow":
        return {"status": "expired", "reply": None}
    account = _accounts().get(ticket.app_id)
    if account is None:
        return {"status": "unknown_account", "reply": None}
    openid = openid_for(account.app_id, user)
    if action == "text":
        return send_text(account, user, content)
    if action == "longpress":  # WeChat recognises a long-pressed QR and pushes the same subscribe/SCAN
        action = "follow"
    with sim.lock:
        sim.people[(account.app_id, openid)] = user
        following = (account.app_id, openid) in sim.follows
        if action == "follow" and not following:
            event, key = "subscribe", messages.SUBSCRIBE_SCENE_PREFIX + ticket.scene
            sim.follows.add((account.app_id, openid))
        elif action in ("follow", "scan") and following:
            event, key = "SCAN", ticket.scene
        elif action == "scan":
            return {"status": "not_following", "reply": None}  # WeChat sends nothing in this case
        elif action == "unfollow":
            sim.follows.discard((account.app_id, openid))
            event, key = "unsubscribe", ""
        else:
            return {"status": "bad_action", "reply": None}
    xml = render_event_xml(account.original_id, openid, int(time.time()), event, key or None,
                           ticket_id if event != "unsubscribe" else None)
    return _deliver(account, openid, xml, event)


def send_text(account: SimAccount, user: str, content: str) -> dict[str, Any]:
    """``user`` sends a chat text to the account (no QR code involved: send-a-code login, SPEC §13)."""
    openid = openid_for(account.app_id, user)
    with state().lock:
        state().people[(account.app_id, openid)] = user
    xml = render_text_message(account.original_id, openid, content[:600], int(time.time()),
                              secrets.randbelow(10**18))
    return _deliver(account, openid, xml, "text")


def _deliver(account: SimAccount, openid: str, xml: str, event: str) -> dict[str, Any]:
    """Sign (and encrypt) the push like WeChat and post it to the account's server URL."""
    push = build_push(xml, token=account.token, mode=account.encryption, app_id=account.app_id, openid=openid,
                      to_user=account.original_id, encoding_aes_key=account.encoding_aes_key)
    try:
        answer = requests.post(account.callback_url, params=push.params, data=push.body, timeout=5,
                               headers={"Content-Type": "text/xml"})
    except requests.RequestException as exc:
        return {"status": "callback_unreachable", "reply": None, "detail": type(exc).__name__}
    reply = None
    if answer.status_code == 200:
        reply = read_reply(answer.content, token=account.token, app_id=account.app_id,
                           encoding_aes_key=account.encoding_aes_key)
    return {"status": "delivered" if answer.status_code == 200 else f"callback_{answer.status_code}",
            "event": event, "reply": reply}


@bp.get("/qr/<ticket>")
def phone(ticket: str) -> str:
    sim = state()
    with sim.lock:
        found = sim.tickets.get(ticket)
    account = _accounts().get(found.app_id) if found else None
    return render_template("simulator/phone.html", ticket=ticket, found=found, account=account,
                           user=request.args.get("user", "Alice"), result=None, now=time.time())


@bp.post("/qr/<ticket>")
def phone_act(ticket: str) -> str:
    user = (request.form.get("user") or "Alice").strip()[:40] or "Alice"
    result = act(ticket, user, request.form.get("action", ""), request.form.get("content", ""))
    with state().lock:
        found = state().tickets.get(ticket)
    account = _accounts().get(found.app_id) if found else None
    return render_template("simulator/phone.html", ticket=ticket, found=found, account=account, user=user,
                           result=result, now=time.time())


@bp.post("/api/scan")
def api_scan() -> Response:
    body = request.get_json(silent=True) or {}
    return jsonify(act(str(body.get("ticket", "")), str(body.get("user", "Alice")), str(body.get("action", "")),
                       str(body.get("content", ""))))


@bp.post("/api/text")
def api_text() -> Response:
    """``{"app_id": …, "user": …, "content": …}``: a chat text from ``user`` to the account."""
    body = request.get_json(silent=True) or {}
    account = _accounts().get(str(body.get("app_id", "")))
    if account is None:
        return jsonify(status="unknown_account", reply=None)
    return jsonify(send_text(account, str(body.get("user", "Alice"))[:40], str(body.get("content", ""))))


@bp.route("/chat/<app_id>", methods=["GET", "POST"])
def chat(app_id: str) -> str:
    """The simulated chat with an account: send it a text (the sign-in code) as a chosen person."""
    account = _accounts().get(app_id)
    user = (request.form.get("user") or request.args.get("user") or "Alice").strip()[:40] or "Alice"
    result = None
    if request.method == "POST" and account is not None:
        result = send_text(account, user, request.form.get("content", ""))
    return render_template("simulator/chat.html", account=account, user=user, result=result)


WECHAT_USER_COOKIE = "sim_wechat_user"  # who is "logged in to WeChat" in this browser (default Alice)


@bp.get("/connect/oauth2/authorize")
def oauth_authorize() -> Response | str:
    """WeChat's web authorization inside its browser. ``snsapi_base`` is silent: straight back to
    ``redirect_uri`` with a 5-minute single-use ``code`` and the ``state``. The redirect URI's host must be
    the account's web-authorization domain (here: the host of its server URL), else WeChat shows 10003."""
    account = _accounts().get(request.args.get("appid", ""))
    redirect_uri = request.args.get("redirect_uri", "")
    if account is None:
        return Response("appid invalid (simulated WeChat)", status=400, mimetype="text/plain")
    if urlsplit(redirect_uri).netloc != urlsplit(account.callback_url).netloc:
        return Response("10003 redirect_uri domain mismatch (simulated WeChat)", status=400, mimetype="text/plain")
    if request.args.get("response_type") != "code" or request.args.get("scope") not in ("snsapi_base",
                                                                                       "snsapi_userinfo"):
        return Response("10005 scope or response_type invalid (simulated WeChat)", status=400,
                        mimetype="text/plain")
    user = (request.cookies.get(WECHAT_USER_COOKIE) or "Alice")[:40]
    openid = openid_for(account.app_id, user)
    code = secrets.token_urlsafe(24)
    with state().lock:
        state().people[(account.app_id, openid)] = user
        state().oauth_codes[code] = (account.app_id, openid, time.time() + 300)
    query = urlencode({"code": code, "state": request.args.get("state", "")})
    return Response(status=302, headers={"Location": f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}"})


@bp.get("/sns/oauth2/access_token")
def oauth_access_token() -> Response:
    """Exchange a web-authorization code (once) for the openid; the web access token is a dummy."""
    account = _secret_checked("oauth2_access_token")
    if isinstance(account, Response):
        return account
    if request.args.get("grant_type") != "authorization_code":
        return _wechat_error(40002, "invalid grant_type")
    with state().lock:
        entry = state().oauth_codes.pop(request.args.get("code", ""), None)
    if entry is None or entry[0] != account.app_id or entry[2] < time.time():
        return _wechat_error(40029, "invalid code")
    return jsonify(access_token="SIMWEB_" + secrets.token_urlsafe(24), expires_in=7200,
                   refresh_token="SIMREF_" + secrets.token_urlsafe(24), openid=entry[1], scope="snsapi_base")


@bp.post("/control/fail")
def control_fail() -> Response:
    """Queue failures: ``{"endpoint": "qrcode_create", "errcode": -1, "count": 1, "delay": 0}``."""
    body = request.get_json(silent=True) or {}
    endpoint = str(body.get("endpoint", ""))
    with state().lock:
        queue = state().failures.setdefault(endpoint, deque())
        for _ in range(int(body.get("count", 1))):
            queue.append(Failure(int(body.get("errcode", 0)), float(body.get("delay", 0))))
    return jsonify(queued=len(queue))


@bp.post("/control/delay")
def control_delay() -> Response:
    body = request.get_json(silent=True) or {}
    with state().lock:
        state().delays[str(body.get("endpoint", ""))] = float(body.get("seconds", 0))
    return jsonify(ok=True)


@bp.get("/control/calls")
def control_calls() -> Response:
    with state().lock:
        return jsonify(dict(state().calls))


@bp.get("/control/tickets")
def control_tickets() -> Response:
    with state().lock:
        return jsonify({t: {"scene": v.scene, "app_id": v.app_id} for t, v in state().tickets.items()})


def install(app: Flask, url_prefix: str, accounts: dict[str, SimAccount] | None = None,
            source: Callable[[], dict[str, SimAccount]] | None = None) -> None:
    app.extensions[_STATE] = SimState(accounts=dict(accounts or {}))
    if source is not None:
        app.extensions[_SOURCE] = source
    app.register_blueprint(bp, url_prefix=url_prefix)


def create_simulator_app(accounts: list[SimAccount]) -> Flask:
    """A standalone simulated WeChat (a real HTTP server in tests)."""
    from idp_bridge.resources import templates_dir

    app = Flask("idp_bridge_simulator", template_folder=str(templates_dir()),
                static_folder=str(Path(__file__).resolve().parent.parent / "static"))
    install(app, "", {a.app_id: a for a in accounts})
    return app

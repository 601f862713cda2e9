"""The return from WeChat's web authorization (SPEC §13): ``/login/oauth/{identifier}?code=…&state=…``.

A state that is unknown, expired, replayed or presented by another browser signs nobody in and gets a clear page;
any failure after that (no code, WeChat refusing the exchange, WeChat unreachable, ``user/info`` failing) falls
back to the QR page of the same login with a plain message, so the person is never stuck. Otherwise the openid
is resolved and decided exactly like a scan: the first (and only) "scanner" is fixed by the same compare-and-set
(SPEC §15), then :func:`dispatcher.decide`.
"""

from __future__ import annotations

import logging

from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from idp_bridge.accounts.resolve import resolve
from idp_bridge.login import sessions, webauth
from idp_bridge.login.dispatcher import USER_INFO_TIMEOUT, decide, unionid_of
from idp_bridge.login.i18n import words
from idp_bridge.login.states import State
from idp_bridge.login.views import bp
from idp_bridge.oidc import seam
from idp_bridge.oidc.responses import error_page
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.connections import get_connection
from idp_bridge.wechat.errors import WeChatError
from idp_bridge.wechat.service import client_for

log = logging.getLogger(__name__)


def _refused() -> Response:
    t_en, t_zh = words("en"), words("zh")
    return error_page("login_state", f"{t_zh['state_refused']} / {t_en['state_refused']}")


@bp.get("/login/oauth/<identifier>")
def oauth_return(identifier: str) -> Response:
    connection = get_connection(identifier)
    if connection is None or not connection.web_auth:
        return _refused()
    session = webauth.consume_state(connection, request.args.get("state"))
    pending = seam.get_pending(session.pending_id) if session is not None else None
    if session is None or pending is None:
        log.warning("web-authorization return with an unknown, used, expired or foreign state on %s", identifier)
        return _refused()

    def fall_back(notice: str) -> Response:
        return redirect(url_for("login.page", pending_id=pending.id, connection=identifier, qr=1, notice=notice),
                        code=303)

    code = request.args.get("code")
    if not code:
        return fall_back("failed")  # the person declined, or WeChat sent no code
    client = client_for(connection)
    try:
        openid = client.oauth_openid(code)
        if connection.require_follow:
            info = client.user_info(openid, timeout=USER_INFO_TIMEOUT)
            if not info.subscribe:
                return fall_back("follow")  # long-press the QR to follow; the subscribe push completes it
            unionid = info.unionid
        else:
            unionid = unionid_of(connection, openid)
    except (WeChatError, ValueError) as exc:
        log.warning("web authorization failed on %s: %s", identifier, exc)
        return fall_back("failed")
    if not sessions.transition(session, State.WAITING, State.SCANNED, openid=openid, event_at=utcnow()):
        return fall_back("failed")
    decide(session, connection, resolve(connection, openid, unionid), unionid, source=State.SCANNED)
    if session.state == State.SUCCEEDED:
        return redirect(url_for("login.complete", pending_id=pending.id, ls=session.id), code=303)
    return redirect(url_for("login.page", pending_id=pending.id, connection=identifier, qr=1), code=303)

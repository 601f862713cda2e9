""""Try login" (SPEC §8): a page per application that signs the visitor in through a pop-up and shows the
ID token and userinfo it received — the quickest way for an operator to see the whole flow work."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template
from werkzeug.wrappers import Response

from idp_bridge.config import current_settings
from idp_bridge.oidc.registration import get_client

bp = Blueprint("apps", __name__)


def try_redirect_uri(issuer: str, client_id: str) -> str:
    return f"{issuer}/apps/{client_id}/callback"


@bp.get("/apps/<client_id>/try")
def try_login(client_id: str) -> Response:
    client = get_client(client_id)
    if client is None or not client.try_page:
        abort(404)
    issuer = current_settings().issuer
    redirect_uri = try_redirect_uri(issuer, client_id)
    body = render_template("apps/try.html", client=client, issuer=issuer, redirect_uri=redirect_uri,
                           usable=redirect_uri in client.redirect_uris and client.public,
                           simulator=current_settings().simulator)
    return Response(body, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.get("/apps/<client_id>/callback")
def callback(client_id: str) -> Response:
    """Where the pop-up lands only if something went wrong before the response could be posted back."""
    return Response(render_template("apps/callback.html"), mimetype="text/html")


def init_app(app: Flask) -> None:
    """Register the try-login pages on ``app``."""
    app.register_blueprint(bp)

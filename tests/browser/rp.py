"""A minimal relying party for browser tests: redirect-mode login with PKCE, code exchange server-side, and a
page that shows the verified claims. Also serves static test pages (oidc-client-ts) from tests/browser/static."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask, redirect, request, send_from_directory
from joserfc import jwt
from joserfc.jwk import KeySet

ROOT = Path(__file__).resolve().parents[2]


def create_rp_app(issuer: str, client_id: str, client_secret: str, redirect_uri: str) -> Flask:
    app = Flask("test_rp", static_folder=None)
    flows: dict[str, dict[str, str]] = {}

    @app.get("/start")
    def start() -> Any:
        state, verifier, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(48), secrets.token_urlsafe(12)
        flows[state] = {"verifier": verifier, "nonce": nonce}
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                  "scope": "openid profile", "state": state, "nonce": nonce,
                  "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
        if request.args.get("prompt"):
            params["prompt"] = request.args["prompt"]
        return redirect(f"{issuer}/oauth/authorize?" + requests.compat.urlencode(params))

    @app.get("/cb")
    def callback() -> Any:
        if "error" in request.args:
            return f'<p id="rp-error">{request.args["error"]}</p>'
        flow = flows.pop(request.args.get("state", ""), None)
        if flow is None or request.args.get("iss") != issuer:
            return '<p id="rp-error">bad state or iss</p>', 400
        tokens = requests.post(f"{issuer}/oauth/token", auth=(client_id, client_secret), timeout=10, data={
            "grant_type": "authorization_code", "code": request.args["code"], "redirect_uri": redirect_uri,
            "code_verifier": flow["verifier"]}).json()
        keys = KeySet.import_key_set(requests.get(f"{issuer}/oauth/jwks", timeout=10).json())
        claims = dict(jwt.decode(tokens["id_token"], keys).claims)
        assert claims["nonce"] == flow["nonce"] and claims["iss"] == issuer and claims["aud"] == client_id
        return f'<h1 id="rp-signed-in">Signed in</h1><pre id="rp-sub">{claims["sub"]}</pre>' \
               f'<script type="application/json" id="rp-claims">{json.dumps(claims)}</script>'

    @app.get("/static/<path:name>")
    def static_file(name: str) -> Any:
        return send_from_directory(Path(__file__).resolve().parent / "static", name)

    @app.get("/vendor/oidc-client-ts.js")
    def oidc_client_ts() -> Any:
        return send_from_directory(ROOT / "node_modules" / "oidc-client-ts" / "dist" / "browser",
                                   "oidc-client-ts.min.js")

    return app

"""The serving stack's floor for one SSO login, measured beside idp-bridge and its peer by ``bench.sso_login``.

The same gunicorn master, uvicorn workers (:class:`idp_bridge.serving.StreamingWorker`) and WSGI bridge
(:class:`idp_bridge.streaming.wsgi_bridge.WsgiBridge`) as ``idp-bridge serve``, serving a Flask app whose
authorization endpoint answers a fixed redirect with a code and whose token endpoint answers a fixed token
response carrying a freshly signed RS256 ID token (the one signature a login cannot avoid). No OIDC rule runs and
no database is read. What idp-bridge costs above this figure is its own work — the OIDC checks, Authlib, the
database — and what this figure costs above the peer is the stack's: the HTTP server, the thread hand-off,
Flask and Werkzeug.

Usage: python -m bench.floor_app <port> <workers>   (prints "ready" once it accepts connections)
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import MutableMapping
from typing import Any

from flask import Flask, jsonify, redirect
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp_bridge.serving import GunicornApp, gunicorn_options
from idp_bridge.streaming.sse import Receive, Send
from idp_bridge.streaming.wsgi_bridge import WsgiBridge

THREADS = 64


def canned_app() -> Flask:
    """Authorize → 302 with a code; token → 200 with an RS256-signed ID token."""
    app = Flask("floor")
    key = RSAKey.generate_key(2048, private=True)

    @app.get("/oauth/authorize")
    def authorize() -> Any:
        return redirect("http://127.0.0.1:9/callback?code=canned&state=s", code=302)

    @app.post("/oauth/token")
    def token() -> Any:
        now = int(time.time())
        id_token = jwt.encode({"alg": "RS256"}, {"iss": "floor", "sub": "u", "aud": "c", "iat": now,
                                                  "exp": now + 300, "nonce": "n"}, key)
        response = jsonify(access_token="canned", token_type="Bearer", expires_in=300, id_token=id_token)
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


class FloorApp:
    """ASGI app: the Flask app through the WSGI bridge, with the lifespan protocol answered."""

    def __init__(self, app: Flask) -> None:
        self.bridge = WsgiBridge(app, THREADS)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.bridge.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            await self.bridge(scope, receive, send)


class FloorGunicorn(GunicornApp):
    def load(self) -> Any:
        return FloorApp(canned_app())


def _announce_when_listening(port: int, workers: int) -> None:
    """Print "ready" once every worker has booted (the master listens before they do)."""
    from bench.harness import children_of

    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
            continue
        if len(children_of(os.getpid())) >= workers:
            time.sleep(1.0)  # each worker's app is built after the fork
            print("ready", flush=True)
            return
        time.sleep(0.05)


def main(port: str, workers: str) -> None:
    options = gunicorn_options(f"127.0.0.1:{port}", int(workers), THREADS)
    options.update(accesslog=None, errorlog="/dev/null")
    threading.Thread(target=_announce_when_listening, args=(int(port), int(workers)), daemon=True).start()
    FloorGunicorn(canned_app, options).run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

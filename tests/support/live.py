"""Real HTTP servers on loopback for tests (DESIGN example 11): no test client shortcuts where a flow
crosses HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class LiveServer:
    """A threaded werkzeug server bound first (port known), app attached later.

    Binding before building the app lets the app's issuer carry the real port with no race.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._app: Callable[..., Any] | None = None
        self._server: BaseWSGIServer = make_server(host, 0, self._dispatch, threaded=True)
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self._app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app attached"]
        return self._app(environ, start_response)

    def attach(self, app: Callable[..., Any]) -> None:
        self._app = app

    def start(self) -> LiveServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
            self._thread.daemon = True
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

"""Production serving with gunicorn, embedded so that ``idp-bridge serve`` is the whole command.

Worker model: gunicorn's master (one listening socket, worker supervision, graceful stop) with uvicorn's
ASGI worker. In each worker the Flask app runs unchanged in a thread pool (``--threads``; psycopg and
SQLAlchemy stay in their ordinary blocking mode, no monkey-patching), while a waiting login page's status
stream is a coroutine on the worker's event loop and holds no thread (:mod:`idp_bridge.streaming`): thousands
of pages wait per worker, bounded by ``--streams-per-worker``. The app is built in each worker after the fork
(no preload), so database pools and signing-key caches are never shared across processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import resource
import signal
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from idp_bridge.logging_setup import TextFormatter
from idp_bridge.login import notify

RESERVED_FDS = 256  # descriptors a worker keeps for its database pool, listener, log files and short requests


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (each waiting page holds a socket);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


ARENAS = 2  # glibc malloc arenas per worker (mallopt(3) M_ARENA_MAX); the environment's MALLOC_ARENA_MAX wins
_M_ARENA_MAX = -8  # from glibc's <malloc.h>


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process, unless ``MALLOC_ARENA_MAX`` already decides; returns whether
    the cap was set.

    glibc gives threads arenas of their own, up to 8 per core (mallopt(3)); each keeps the peak of what its
    threads allocated and freed. A worker's pool threads each render pages and run token requests, so with the
    default the worker's resident size follows the busiest moment of every thread instead of what it holds:
    measured with 5,000 waiting pages on 2 workers, 2 arenas hold the same streams in 2–8 MB less per worker
    at no cost in SSO latency. Called before the worker starts its threads. Elsewhere (musl, macOS): nothing."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)
    except (OSError, AttributeError):
        return False


def _stopped_already(_sig: int, _frame: Any) -> None:
    """The signal uvicorn re-raises after its graceful stop: the worker is already on its way out."""


class StreamingServer(Server):
    """uvicorn's server that ends open status streams first when stopping, so a graceful stop does not wait
    for them (it would otherwise wait for every open response); the pages reconnect to a live worker."""

    async def shutdown(self, sockets: Any = None) -> None:
        from idp_bridge.streaming import ServingApp

        notify.SHUTDOWN.set()
        if isinstance(self.config.app, ServingApp):
            self.config.app.close_streams()
        await super().shutdown(sockets=sockets)


class StreamingWorker(UvicornWorker):
    """uvicorn's gunicorn worker, configured so that only the app's own ``IDP_BRIDGE_TRUST_PROXY`` decides
    about ``X-Forwarded-*`` (uvicorn would otherwise trust them from 127.0.0.1), with the app's own escaping
    access log (uvicorn's would include query strings), and streams ended at once on a graceful stop."""

    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "http": "auto", "proxy_headers": False, "access_log": False,
                                     "server_header": False, "lifespan": "on"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = int(self.cfg.graceful_timeout)

    def init_process(self) -> None:
        raise_open_files_limit()
        limit_malloc_arenas()
        super().init_process()

    def init_signals(self) -> None:
        """uvicorn re-raises the SIGTERM/SIGINT it handled once it has stopped; with the default action that
        would kill the worker before ``atexit`` runs (the webhook sender finishes its delivery in flight there).
        A Python handler that does nothing lets the worker return and exit 0, and unlike SIG_IGN it is not
        inherited by programs the worker starts."""
        super().init_signals()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stopped_already)

    async def _serve(self) -> None:
        """As uvicorn-worker's, with :class:`StreamingServer`."""
        self.config.app = self.wsgi
        server = StreamingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


class EscapingLogger(Logger):
    """gunicorn's logger whose access and error lines cannot be forged (SPEC §15; CWE-117).

    The access log shows the *decoded* path (:mod:`idp_bridge.streaming.access_log`), so ``/x%0d%0a<fake
    line>`` would otherwise write a line of the client's choosing. Every gunicorn handler (access and error,
    which uvicorn's loggers share) gets the application's escaping formatter (same format string).
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                current = handler.formatter
                handler.setFormatter(TextFormatter(current._fmt if current else "%(message)s",
                                                   current.datefmt if current else None))



class GunicornApp(BaseApplication):
    """gunicorn driven from Python; ``factory`` builds the Flask app inside each worker, served by
    :class:`~idp_bridge.streaming.ServingApp` with ``threads`` pool threads."""

    def __init__(self, factory: Any, options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from idp_bridge.login.streams import DEFAULT_PER_WORKER
        from idp_bridge.streaming import ServingApp

        wanted = int(self._options.get("streams_per_worker") or DEFAULT_PER_WORKER)
        streams = max(1, min(wanted, raise_open_files_limit() - RESERVED_FDS))
        served = ServingApp(self._factory(), threads=int(self.cfg.threads), streams_per_worker=streams)
        # The app's long-lived objects (modules, models, templates) leave the cyclic collector's view: its full
        # passes stay short while thousands of streams wait, and so does the final one when the worker exits.
        gc.freeze()
        return served


def gunicorn_options(bind: str, workers: int, threads: int, streams_per_worker: int | None = None
                     ) -> dict[str, Any]:
    """gunicorn's settings for ``serve`` and ``demo``; ``threads`` sizes each worker's Flask thread pool
    (status streams hold none), ``streams_per_worker`` caps the waiting streams of one worker (SPEC §15)."""
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": "idp_bridge.serving.StreamingWorker",
        "threads": threads,
        "streams_per_worker": streams_per_worker,  # ours, not gunicorn's: read by GunicornApp.load
        "timeout": 60,  # the worker's loop heartbeat; a stream never blocks it
        "graceful_timeout": 30,
        "keepalive": 5,
        "preload_app": False,
        "accesslog": "-",  # lines written by idp_bridge.streaming.access_log (path only, no query string)
        "logger_class": "idp_bridge.serving.EscapingLogger",  # escapes control characters in every line
        "errorlog": "-",
        "max_requests": 0,
    }

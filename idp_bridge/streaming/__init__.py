"""Serving: the Flask app behind an ASGI front that runs the login page's status streams on the event loop.

A waiting login page holds one server-sent-events request (WHATWG HTML §9.2) for minutes. Under a
thread-per-request server each one holds a thread, so the number of waiting pages is bounded by threads. Here
the Flask view still does every check (input gate, ownership, caps, security headers) in a pool thread, then
hands the accepted stream to the worker's event loop (:class:`~idp_bridge.login.streams.Handoff`), where it
waits as a coroutine, woken only when *its* login session changes. Every other request runs in the Flask app
through a WSGI-to-ASGI bridge (``wsgi_bridge``) with a bounded thread pool.
"""

from idp_bridge.streaming.app import ServingApp

__all__ = ["ServingApp"]

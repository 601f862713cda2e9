"""The access log of ``idp-bridge serve``: one line per request, written when the response ends.

Same shape as before (gunicorn's ``%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss``): the client address as the app
saw it (after ``IDP_BRIDGE_TRUST_PROXY``), the method, the decoded path *without* the query string (query
strings carry codes, ``echostr`` and other one-time values), the status, the body bytes and the seconds taken.
The line goes to gunicorn's access logger, whose handlers escape control characters (CWE-117), so a path such
as ``/x%0d%0a<fake line>`` cannot start a line of its own.
"""

from __future__ import annotations

import logging

ACCESS = logging.getLogger("gunicorn.access")


def write(client: str, method: str, path: str, status: int, sent: int, seconds: float) -> None:
    ACCESS.info('%s "%s %s" %s %s %.6fs', client, method, path, status, sent if sent else "-", seconds)

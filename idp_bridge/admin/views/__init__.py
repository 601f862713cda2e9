"""Console screens; each module attaches its routes to the console blueprint."""

from __future__ import annotations

from idp_bridge.admin.views import admins, apps, audit_log, auth, connections, keys, overview, users  # noqa: F401

"""Console screens; each module attaches its routes to the console blueprint."""

from __future__ import annotations

from idp_bridge.admin.views import (  # noqa: F401
    admins,
    apps,
    audit_log,
    auth,
    connections,
    keys,
    overview,
    users,
    webhooks,
)

"""A connection's options beyond ``wechat/connections.py``: its reach (SPEC §13: account type, send-a-code,
web authorization, follow requirement, the account's QR URL) and its event policy (SPEC §14: what an unfollow
does, pass-through ``forward_url``).

`idp-bridge connection create|update` and the console's connection form both go through here: the rules stay
in ``wechat/reach.py`` and ``events/policy.py``; this module checks the *combination* before anything is written
and then applies it in the caller's transaction, so a refused option leaves the connection untouched.
"""

from __future__ import annotations

from typing import Any

from idp_bridge import audit
from idp_bridge.events import policy
from idp_bridge.extensions import db
from idp_bridge.wechat import reach
from idp_bridge.wechat.models import Connection

#: Every option this module owns, as the CLI and the console name them.
FIELDS = (*reach.FIELDS, "on_unsubscribe", "forward_url")


def describe(connection: Connection) -> dict[str, Any]:
    """The current values (for the CLI's ``show`` and the console's edit form)."""
    return {**reach.describe(connection), "on_unsubscribe": policy.on_unsubscribe(connection.id),
            "forward_url": policy.forward_url(connection.id)}


def validate(connection: Connection | None, changes: dict[str, Any]) -> None:
    """Refuse a bad option or combination (``None`` = unchanged) before anything is written; ``connection`` is
    None for one about to be created."""
    reach_changes = {name: changes.get(name) for name in reach.FIELDS}
    if connection is None:
        reach.validate(reach_changes)
    else:
        current = reach.describe(connection)
        reach.validate({**current, **{k: v for k, v in reach_changes.items() if v is not None}})
    chosen = changes.get("on_unsubscribe")
    if chosen is not None and chosen not in policy.POLICIES:
        policy.set_on_unsubscribe(0, chosen)  # refuses before touching anything: the rule's own words
    if changes.get("forward_url"):
        policy.set_forward_url(0, changes["forward_url"], validate_only=True)


def apply(connection: Connection, changes: dict[str, Any]) -> list[str]:
    """Apply validated options in the caller's transaction (never commits); returns the names that changed."""
    before = describe(connection)
    reach.apply(connection, {name: changes.get(name) for name in reach.FIELDS}, commit=False)
    if changes.get("on_unsubscribe") is not None and changes["on_unsubscribe"] != before["on_unsubscribe"]:
        policy.set_on_unsubscribe(connection.id, changes["on_unsubscribe"])
    if changes.get("forward_url") is not None and (changes["forward_url"] or None) != before["forward_url"]:
        policy.set_forward_url(connection.id, changes["forward_url"])
    after = describe(connection)
    return [name for name in FIELDS if after[name] != before[name]]


def save(connection: Connection, changes: dict[str, Any]) -> list[str]:
    """Apply validated options, commit, and audit what changed with the acting admin (CLI user or console sub)."""
    changed = apply(connection, changes)
    db.session.commit()
    if changed:
        audit.record("connection.options", actor=audit.current_actor(), target=connection.identifier,
                     fields=changed)
    return changed

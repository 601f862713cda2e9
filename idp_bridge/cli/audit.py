"""`idp-bridge audit`: read the audit log (SPEC §4; the audit trail operators expect)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from idp_bridge import audit
from idp_bridge.cli.output import CliInvalid, emit, json_errors, json_option


def register(cli: click.Group) -> None:
    """Attach ``audit`` to the console script."""

    @cli.command("audit")
    @click.option("--action", help="Only this action, e.g. login.success, client.create, keys.rotate.")
    @click.option("--since", help="ISO date or time, e.g. 2026-11-01 or 2026-11-01T08:00:00.")
    @click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
    @json_option
    @json_errors
    def audit_command(action: str | None, since: str | None, limit: int, as_json: bool) -> None:
        """Show audited actions, newest first."""
        start = None
        if since:
            try:
                start = datetime.fromisoformat(since)
            except ValueError:
                raise CliInvalid("since", "must be an ISO date or date-time") from None
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
        events = [e.describe() for e in audit.query(action, start, limit)]
        if as_json:
            emit({"events": events}, True)
            return
        for e in events:
            click.echo(f"{e['at']}  {e['action']:<18} {e['outcome']:<10} actor={e['actor']} target={e['target']}"
                       f" ip={e['ip'] or '-'}")

"""`idp-bridge purge`: delete expired rows now (SPEC §15 retention; `serve` also does it every few minutes)."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from idp_bridge.cli.output import CliFailure, CliInvalid, emit, json_errors, json_option
from idp_bridge.numbers import BadNumber, parse_int

BATCH_RANGE = (1, 10_000)
BUDGET_RANGE = (1, 86_400)


def _bounded(field: str, raw: str, bounds: tuple[int, int]) -> int:
    """ASCII digits within bounds (``numbers.parse_int``), refused as exit 2 naming the option (SPEC §4)."""
    try:
        return parse_int(raw, minimum=bounds[0], maximum=bounds[1])
    except BadNumber:
        raise CliInvalid(field, f"must be an integer from {bounds[0]} to {bounds[1]}") from None


def register(cli: click.Group) -> None:
    """Attach ``purge`` to the console script."""

    @cli.command("purge")
    @click.option("--batch", default="500", show_default=True, metavar="ROWS",
                  help="Rows deleted per transaction (small batches never lock a table for long).")
    @click.option("--budget", default="600", show_default=True, metavar="SECONDS",
                  help="Stop after this many seconds; the next run continues.")
    @json_option
    @json_errors
    def purge(batch: str, budget: str, as_json: bool) -> None:
        """Delete expired authorizations, login sessions, codes, tokens, SSO sessions, processed events, rate
        counters, binding codes and audit rows older than IDP_BRIDGE_AUDIT_RETENTION_DAYS; print the counts."""
        from idp_bridge import retention

        rows = _bounded("batch", batch, BATCH_RANGE)
        seconds = _bounded("budget", budget, BUDGET_RANGE)
        try:
            counts = retention.purge(batch=rows, budget_seconds=float(seconds))
        except SQLAlchemyError as exc:
            raise CliFailure(f"database error: {type(exc).__name__}") from None
        total = sum(counts.values())
        human = "\n".join([*(f"{name:<24} {n}" for name, n in counts.items()), f"{'total':<24} {total}"])
        emit({"deleted": counts, "total": total}, as_json, human)

"""`idp-bridge serve`: the production server (SPEC §2)."""

from __future__ import annotations

from collections.abc import Mapping

import click
from flask import Flask

from idp_bridge.config import settings_of
from idp_bridge.login.streams import DEFAULT_PER_WORKER


def explicit_secret_key_required(environ: Mapping[str, str]) -> str | None:
    """On PostgreSQL (a shared, long-lived deployment) the secret key must be given explicitly: a key generated
    into the instance folder is lost with a container's file system, and with it every sealed WeChat secret and
    signing key. Returns the refusal message, or None."""
    from idp_bridge.config import normalise_database_url

    url = normalise_database_url(environ.get("IDP_BRIDGE_DATABASE_URL", ""))
    if url.startswith("postgresql") and not environ.get("IDP_BRIDGE_SECRET_KEY"):
        return ("IDP_BRIDGE_SECRET_KEY: set it (32+ random characters, kept with your backups) before serving from "
                "PostgreSQL; a key generated into the instance folder would not survive a container restart")
    return None


def register(cli: click.Group) -> None:
    """Attach ``serve`` to the console script."""

    @cli.command("serve", with_appcontext=False)
    @click.option("--bind", default="127.0.0.1:8000", show_default=True, help="host:port or unix:/path")
    @click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
    @click.option("--threads", default=64, show_default=True, type=click.IntRange(1, 1000),
                  help="Threads per worker for requests (pages, token, callback); waiting login pages hold none.")
    @click.option("--streams-per-worker", default=DEFAULT_PER_WORKER, show_default=True,
                  type=click.IntRange(1, 100_000),
                  help="Waiting login pages (status streams) one worker holds at most; more get 429 and poll. "
                       "Bounded by the open-files limit too.")
    @click.option("--purge-interval", default=300, show_default=True, type=click.IntRange(0, 86_400),
                  help="Seconds between purges of expired rows (SPEC §15); 0 turns it off (run "
                       "`idp-bridge purge` from cron instead).")
    def serve(bind: str, workers: int, threads: int, streams_per_worker: int, purge_interval: int) -> None:
        """Serve with gunicorn (uvicorn workers: the app in a thread pool, status streams on the event loop);
        refuses an un-migrated database; purges expired rows; delivers webhooks and back-channel logouts."""
        import os
        import tempfile

        # Metrics from every worker are merged through files in a private directory made fresh per start.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="idp-bridge-metrics-")
        from idp_bridge.app import create_app
        from idp_bridge.config import ConfigError
        from idp_bridge.schema import NotMigrated, check_migrated
        from idp_bridge.serving import GunicornApp, gunicorn_options

        refusal = explicit_secret_key_required(os.environ)
        if refusal:
            click.echo(f"Error: {refusal}", err=True)
            raise SystemExit(2)
        try:
            probe = create_app(migrations=False)  # Alembic stays out of the master (see idp_bridge.schema)
            check_migrated(probe)
        except (ConfigError, NotMigrated) as exc:
            raise click.ClickException(str(exc)) from None
        if settings_of(probe).simulator:
            click.secho("WARNING: IDP_BRIDGE_SIMULATOR=1 — the fake WeChat is mounted. Never in production.",
                        fg="red", err=True)

        def worker_app() -> Flask:
            """Built in each worker after the fork; its purge thread competes for the purge lock."""
            app = create_app(migrations=False)
            if purge_interval:
                from idp_bridge import retention

                retention.start_background(app, purge_interval)
            from idp_bridge.events import sender

            sender.start_background(app)  # webhooks and back-channel logouts (SPEC §14), off the request path
            return app

        GunicornApp(worker_app, gunicorn_options(bind, workers, threads, streams_per_worker)).run()

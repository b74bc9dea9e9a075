"""Commands that run things here rather than talk to a running service:
`serve`, `migrate`, `demo`, `gen-token`."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from receiver.cli.options import json_option, output
from receiver.errors import ReceiverError, SettingsError
from receiver.settings import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--host", default=None, help="Listen address (default RECEIVER_HOST or 127.0.0.1).")
@click.option(
    "--port", type=int, default=None, help="Listen port (default RECEIVER_PORT, PORT or 8000)."
)
def serve(host: str | None, port: int | None) -> None:
    """Run the service: API, callbacks and workers."""
    settings = _settings()
    if not settings.api_token:
        raise click.ClickException(
            "RECEIVER_API_TOKEN is not set. Make one with `receiver gen-token`, then\n"
            "  export RECEIVER_API_TOKEN=<token>\nand give the same token to API clients."
        )
    if not settings.providers:
        click.echo(
            "warning: no provider is enabled (set RECEIVER_<P>_API_KEY); tasks will be refused",
            err=True,
        )
    from receiver.server import run

    run(settings, host or settings.host, port or settings.port, log_level=settings.log_level)


@click.command()
@json_option
def migrate() -> None:
    """Create or upgrade the database schema, then exit."""
    from receiver.store.migrate import migrate_sqlite
    from receiver.store.sqlite_connector import connect

    settings = _settings()
    path = Path(settings.database_path)
    try:
        conn = connect(path)
        try:
            applied = migrate_sqlite(conn)
        finally:
            conn.close()
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None
    out = output()
    if out.json_mode:
        out.json({"database": str(path), "applied": list(applied)})
    elif applied:
        click.echo(f"{path}: applied migrations {', '.join(map(str, applied))}")
    else:
        click.echo(f"{path}: schema is up to date")


@click.command()
@click.argument("prompt", required=False, default="A lighthouse on a cliff at dusk, film photo")
def demo(prompt: str) -> None:
    """See it work: the service, the four provider simulators and a webhook subscriber in
    one process, a task to each provider, every signed event verified. No keys, no network."""
    import asyncio

    from receiver.demo import run_demo

    raise SystemExit(asyncio.run(run_demo(prompt)))


@click.command("gen-token")
@json_option
def gen_token() -> None:
    """Print a new random token, for RECEIVER_API_TOKEN or RECEIVER_SECRET_KEY."""
    token = secrets.token_urlsafe(32)
    out = output()
    if out.json_mode:
        out.json({"token": token})
    else:
        click.echo(token)

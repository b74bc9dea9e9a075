"""The `receiver` command. Thin: parse arguments, call into the package.

click, because it gives typed options, environment-variable fallbacks, help
text and exit codes without hand-written argument parsing.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from receiver import __version__
from receiver.errors import ReceiverError, SettingsError
from receiver.settings import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(__version__, prog_name="receiver")
def main() -> None:
    """Turn asynchronous image-generation APIs into signed, replayable webhooks."""


@main.command()
@click.option("--host", default=None, help="Listen address (default RECEIVER_HOST or 127.0.0.1).")
@click.option(
    "--port", type=int, default=None, help="Listen port (default RECEIVER_PORT, PORT or 8000)."
)
def serve(host: str | None, port: int | None) -> None:
    """Run the service: API, callbacks and workers."""
    import uvicorn

    from receiver.http.app import create_app

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
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,  # trusts X-Forwarded-* from FORWARDED_ALLOW_IPS (default 127.0.0.1)
        log_level="info",
        timeout_graceful_shutdown=20,
    )


@main.command()
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
    if applied:
        click.echo(f"{path}: applied migrations {', '.join(map(str, applied))}")
    else:
        click.echo(f"{path}: schema is up to date")


@main.command()
@click.argument("prompt", required=False, default="A lighthouse on a cliff at dusk, film photo")
def demo(prompt: str) -> None:
    """Run the service against local provider simulators: no keys, no network."""
    import asyncio

    from receiver.demo import run_demo

    raise SystemExit(asyncio.run(run_demo(prompt, click.echo)))


@main.command("gen-token")
def gen_token() -> None:
    """Print a new random token, for RECEIVER_API_TOKEN or RECEIVER_SECRET_KEY."""
    click.echo(secrets.token_urlsafe(32))

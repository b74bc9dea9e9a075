"""The `receiver` command: run the service, and operate a running one over its API.

click, because it gives typed options, environment-variable fallbacks, help
text and exit codes without hand-written argument parsing. Commands that talk
to the service raise `CliError` (see `errors.py`) for anything that went
wrong; click prints it to stderr and exits with its code.
"""

from __future__ import annotations

import click

from receiver import __version__
from receiver.cli.deliveries import deliveries
from receiver.cli.events import events
from receiver.cli.options import connection_options
from receiver.cli.service import demo, gen_token, migrate, serve
from receiver.cli.submit import submit
from receiver.cli.subscriptions import replay, subscriptions
from receiver.cli.tasks import tasks

EPILOG = """\b
API commands find the service at RECEIVER_URL (or --url) and send
RECEIVER_API_TOKEN (or --token). Exit codes: 0 done; 1 what was asked
about failed; 2 usage; 3 not found; 4 input refused; 5 bad or missing
token; 6 service unreachable; 7 the service failed."""


@click.group(epilog=EPILOG)
@click.version_option(__version__, prog_name="receiver")
@connection_options
def main() -> None:
    """Turn asynchronous image-generation APIs into signed, replayable webhooks."""


for command in (
    serve,
    migrate,
    demo,
    gen_token,
    submit,
    tasks,
    subscriptions,
    replay,
    events,
    deliveries,
):
    main.add_command(command)

__all__ = ["main"]

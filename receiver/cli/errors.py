"""Exit codes that mean something, and the one error every command raises to use them."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import IO, Any

import click


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the thing asked about failed, e.g. `submit --wait` ended `failed`
    USAGE = 2  # click's own code for bad arguments
    NOT_FOUND = 3  # 404
    REFUSED = 4  # 400, 409, 413, 422 and other 4xx: the service refused the input
    UNAUTHORIZED = 5  # 401
    UNREACHABLE = 6  # nothing answered at RECEIVER_URL
    SERVICE_FAILED = 7  # 5xx, or an answer that is not the service's JSON


class CliError(click.ClickException):
    """A message for stderr (`error: ...`), one line per field error, and an exit code."""

    def __init__(self, code: ExitCode, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        # click declares exit_code a class variable (a ClassVar from click 8.5); ours is per
        # error, so it lives on the instance, which is where click reads it.
        setattr(self, "exit_code", int(code))  # noqa: B010
        self.details = list(details)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)
        for line in self.details:
            click.echo(f"  {line}", file=file, err=file is None)

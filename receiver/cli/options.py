"""The options API commands share, and argument types.

`--url` and `--token` belong to the `receiver` group (`receiver --url U
subscriptions update ID --url NEW` is then unambiguous); `--json` to each
command. All three land in the click context's `meta` rather than in each
command's signature, so a command takes only its own arguments and calls
`session()` for a client and an output.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from receiver.cli.client import DEFAULT_URL, JSON, ApiClient
from receiver.cli.output import Output
from receiver.core.times import parse_rfc3339, to_rfc3339

F = TypeVar("F", bound=Callable[..., Any])
_META = "receiver.cli."


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> object:
    ctx.meta[_META + str(param.name)] = value
    return value


_json_option = click.option(
    "--json",
    "json_mode",
    is_flag=True,
    expose_value=False,
    callback=_remember,
    help="Print the service's answer as JSON, for scripts.",
)
_url_option = click.option(
    "--url",
    "service_url",
    envvar="RECEIVER_URL",
    default=DEFAULT_URL,
    show_default=True,
    show_envvar=True,
    expose_value=False,
    callback=_remember,
    help="Where the service runs.",
)
_token_option = click.option(
    "--token",
    "api_token",
    envvar="RECEIVER_API_TOKEN",
    show_envvar=True,
    expose_value=False,
    callback=_remember,
    help="The service's API token.",
)


def json_option(f: F) -> F:
    """`--json`, on every command that prints something a script may want."""
    return _json_option(f)


def connection_options(f: F) -> F:
    """`--url` and `--token`, on the `receiver` group."""
    return _url_option(_token_option(f))


@dataclass(frozen=True, slots=True)
class Session:
    api: ApiClient
    out: Output


def output() -> Output:
    ctx = click.get_current_context()
    return Output(json_mode=bool(ctx.meta.get(_META + "json_mode")))


def session() -> Session:
    ctx = click.get_current_context()
    api = ApiClient(ctx.meta.get(_META + "service_url"), ctx.meta.get(_META + "api_token"))
    ctx.call_on_close(api.close)
    return Session(api, output())


RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def time_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """RFC 3339 as given, or a time ago (`90s`, `30m`, `2h`, `1d`, `1w`) as RFC 3339 UTC."""
    if value is None:
        return None
    text = value.strip()
    relative = RELATIVE.match(text.lower())
    if relative:
        return to_rfc3339(time.time() - float(relative[1]) * UNITS[relative[2]])
    try:
        parse_rfc3339(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an RFC 3339 time (2026-01-31T12:00:00Z) "
            "nor a time ago such as 30m, 2h or 1d",
            ctx,
            param,
        ) from None
    return text


def json_object_value(ctx: click.Context, param: click.Parameter, value: str | None) -> JSON | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON ({exc})", ctx, param) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("expected a JSON object, e.g. '{\"order\": 42}'", ctx, param)
    return parsed

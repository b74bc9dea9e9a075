"""What commands print: rich tables and fields for people, the service's JSON for scripts.

With `--json`, stdout carries exactly the service's answer (indented JSON) and
nothing else. Without it, tables and `name  value` fields. User-supplied text
is never read as rich markup.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

Cell = str | Text

STYLES = {
    "completed": "green",
    "delivered": "green",
    "enabled": "green",
    "failed": "red",
    "dead": "red",
    "disabled": "red",
    "pending": "yellow",
    "processing": "yellow",
    "queued": "cyan",
    "cancelled": "dim",
}


def _console() -> Console:
    # Piped output keeps whole lines (ids are never cut); a terminal gets its own width.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(markup=False, highlight=False, emoji=False, width=200 if wide else None)


def status(value: object) -> Text:
    text = str(value)
    return Text(text, style=STYLES.get(text, ""))


def show(value: object) -> str:
    """A JSON value as a short cell: `-` for nothing, lists joined, objects as JSON."""
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def shorten(value: object, width: int) -> str:
    text = " ".join(show(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Output:
    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.console = _console()

    def json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))

    def line(self, text: Cell = "") -> None:
        self.console.print(text, soft_wrap=True)

    def render(self, renderable: RenderableType) -> None:
        if self.console.is_terminal:
            self.console.print(renderable)
            return
        # Piped: plain lines without the padding rich puts at their ends.
        with self.console.capture() as captured:
            self.console.print(renderable)
        for line in captured.get().splitlines():
            click.echo(line.rstrip())

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Cell]],
        *,
        title: str | None = None,
        empty: str = "nothing to show",
    ) -> None:
        table = Table(
            title=title, title_justify="left", box=None, pad_edge=False, header_style="bold"
        )
        for name in columns:
            table.add_column(name, no_wrap=name in ("ID", "TASK", "EVENT", "SUBSCRIPTION"))
        count = 0
        for row in rows:
            table.add_row(*(Text(c) if isinstance(c, str) else c for c in row))
            count += 1
        if count:
            self.render(table)
        else:
            self.line(empty)

    def fields(self, pairs: Sequence[tuple[str, Cell]], *, title: str | None = None) -> None:
        """`name  value` lines; values are never cut, so ids and URLs copy whole."""
        if title:
            self.line(Text(title, style="bold"))
        width = max((len(name) for name, _ in pairs), default=0) + 2
        for name, value in pairs:
            text = Text(value) if isinstance(value, str) else value
            for n, part in enumerate(text.split("\n", allow_blank=True)):
                label = Text(name.ljust(width) if n == 0 else " " * width, style="bold")
                self.line(Text.assemble(label, part))

    def more(self, page: dict[str, Any], command: str) -> None:
        """The hint for the next page of a list, when there is one."""
        if page.get("next"):
            self.line(f"more: {command} --after {page['next']}")

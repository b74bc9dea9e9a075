"""SQL lives in one .sql file per dialect as `-- name: x` blocks, loaded once into a dict."""

from __future__ import annotations

from functools import cache
from importlib import resources


def parse_blocks(text: str) -> dict[str, str]:
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("-- name:"):
            name = line.removeprefix("-- name:").strip()
            if name in blocks:
                raise ValueError(f"query {name!r} is defined twice")
            current = blocks[name] = []
        elif current is not None and not line.startswith("--"):
            current.append(line)
    return {name: "\n".join(lines).strip().rstrip(";") for name, lines in blocks.items()}


@cache
def load(dialect: str) -> dict[str, str]:
    return parse_blocks((resources.files("receiver.store") / f"{dialect}.sql").read_text())

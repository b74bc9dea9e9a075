"""What every background worker offers the app: run until told to stop, say whether alive."""

from __future__ import annotations

from typing import Protocol


class Worker(Protocol):
    alive: bool

    async def run(self) -> None: ...

    async def stop(self, grace: float = 10.0) -> None: ...

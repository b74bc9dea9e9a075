"""Running the `receiver` command in tests: in-process (click's runner, off the event loop, so
the service in the test's loop keeps answering) or as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner
from support import TOKEN

from receiver.cli import main

SUB_ID = re.compile(r"\bsub_[0-9a-z]{26}\b")
SECRET = re.compile(r"\bwhsec_[A-Za-z0-9+/=]+")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def data(self) -> list[dict[str, Any]]:
        page = self.json()
        assert isinstance(page, dict) and isinstance(page["data"], list), self.out
        return page["data"]

    def ok(self) -> Run:
        assert self.code == 0, f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"
        return self


def _env(url: str, token: str | None, extra: Mapping[str, str | None]) -> dict[str, str | None]:
    return {"RECEIVER_URL": url, "RECEIVER_API_TOKEN": token, "COLUMNS": None, **extra}


def invoke(
    url: str, *args: str, token: str | None = TOKEN, env: Mapping[str, str | None] | None = None
) -> Run:
    result = CliRunner().invoke(main, list(args), env=_env(url, token, env or {}))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


async def cli(
    url: str, *args: str, token: str | None = TOKEN, env: Mapping[str, str | None] | None = None
) -> Run:
    """`receiver ARGS...` against the service at `url`, in a thread."""
    return await asyncio.to_thread(invoke, url, *args, token=token, env=env)


async def cli_process(url: str, *args: str, program: tuple[str, ...] | None = None) -> Run:
    """`python -m receiver ARGS...` (or `program ARGS...`) as a real process."""
    env = {**os.environ, **{k: v for k, v in _env(url, TOKEN, {}).items() if v is not None}}
    env.pop("COLUMNS", None)
    proc = await asyncio.create_subprocess_exec(
        *(program or (sys.executable, "-m", "receiver")),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())

"""Load generation and server processes for the HTTP benchmarks.

Throughput uses wrk (Debian's `wrk`: fixed connections, cheap) with a Lua
script that walks a file of distinct requests. Without wrk (a `--smoke` run on
a machine without it) a small aiohttp client stands in: it checks that the
pieces run, not how fast.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

from benchmarks.common import pin

SERVERS = Path(__file__).with_name("servers.py")

LUA = """
local paths, bodies = {}, {}
for line in io.lines("%(file)s") do
  local p, b = line:match("^(%%S+) (.*)$")
  paths[#paths + 1] = p
  bodies[#bodies + 1] = b
end
local i = 0
local headers = {["Content-Type"] = "application/json"}
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("POST", paths[i], headers, bodies[i])
end
"""


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(kind: str, core: int, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    cmd = [*pin(core), sys.executable, str(SERVERS), kind, str(port)]
    # The benchmarks' package and this checkout's `receiver`, ahead of whatever is
    # installed: a server measures the code beside the script that started it.
    scripts = SERVERS.parent.parent
    path = os.pathsep.join([str(scripts), str(scripts.parent)])
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {}), "PYTHONPATH": path},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError(f"benchmark server {kind!r} did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def write_requests(path: Path, lines: Sequence[tuple[str, bytes]]) -> None:
    with path.open("wb") as out:
        for url_path, body in lines:
            out.write(url_path.encode() + b" " + body + b"\n")


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, requests_file: Path, seconds: float, connections: int, core: int) -> LoadResult:
    script = requests_file.with_suffix(".lua")
    script.write_text(LUA % {"file": str(requests_file)})
    cmd = [
        *pin(core),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return _parse_wrk(out)


def _ms(value: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", value)
    if not match:
        raise RuntimeError(f"unexpected wrk duration {value!r}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def _parse_wrk(out: str) -> LoadResult:
    def find(pattern: str) -> str:
        match = re.search(pattern, out)
        if not match:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        return match.group(1)

    total = int(find(r"(\d+) requests in"))
    seconds = _ms(find(r"requests in ([\d.]+(?:us|ms|s))")) / 1000
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return LoadResult(
        requests=total,
        seconds=seconds,
        rps=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(find(r"50%\s+([\d.]+(?:us|ms|s))")),
        p99_ms=_ms(find(r"99%\s+([\d.]+(?:us|ms|s))")),
        errors=errors,
    )


def pyload(url: str, lines: Sequence[tuple[str, bytes]], concurrency: int) -> LoadResult:
    """A stand-in for wrk in smoke runs: each request once, `concurrency` at a time."""

    async def go() -> LoadResult:
        latencies: list[float] = []
        errors = 0
        queue = iter(lines)
        async with aiohttp.ClientSession() as session:

            async def worker() -> None:
                nonlocal errors
                for path, body in queue:
                    started = time.perf_counter()
                    headers = {"content-type": "application/json"}
                    async with session.post(url + path, data=body, headers=headers) as response:
                        await response.read()
                        errors += not 200 <= response.status < 300
                    latencies.append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        latencies.sort()
        return LoadResult(
            requests=len(latencies),
            seconds=elapsed,
            rps=len(latencies) / elapsed,
            p50_ms=latencies[len(latencies) // 2],
            p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            errors=errors,
        )

    return asyncio.run(go())

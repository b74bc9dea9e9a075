"""Real processes for acceptance tests: the simulators, the service, a threaded webhook sink."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO

import httpx


def wait(check: Callable[[], bool], what: str, within: float = 30.0) -> None:
    give_up = time.monotonic() + within
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # waiting for other processes' work, not for time to pass


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def sandbox_process(pending: float = 0.3, processing: float = 1.2) -> Iterator[str]:
    """`python -m receiver.sandbox` on a free port; yields its root URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "receiver.sandbox",
            "--port",
            "0",
            "--pending-seconds",
            str(pending),
            "--processing-seconds",
            str(processing),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().split()[1].rsplit("/", 1)[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def start_service(
    env: dict[str, str], port: int, *, stderr: IO[bytes] | int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "receiver", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


class Sink:
    """A webhook endpoint in a thread: records each `webhook-id`, answers 204 after `delay` s."""

    def __init__(self, delay: float = 0.0) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                json.loads(body)
                time.sleep(delay)  # a slow consumer, so deliveries are in flight
                with sink.lock:
                    sink.ids.append(self.headers["webhook-id"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> set[str]:
        with self.lock:
            return set(self.ids)

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

"""`receiver serve`: the service under uvicorn, with JSON logs and a bounded graceful shutdown.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections and lets requests
in flight finish (at most SHUTDOWN_REQUESTS seconds); then the lifespan stops
the workers: they claim nothing more, give jobs in flight WORKER_GRACE seconds
to finish, and cancel the rest, whose leases expire so the next start (or
another replica) picks them up. Nothing acknowledged is lost either way: it
was on disk before it was acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Generator

import uvicorn

from receiver.http.app import create_app
from receiver.logs import configure
from receiver.settings import Settings

SHUTDOWN_REQUESTS = 10
WORKER_GRACE = 10.0  # see UpstreamWorker.stop and Dispatcher.stop
SHUTDOWN_BOUND = SHUTDOWN_REQUESTS + WORKER_GRACE + 5  # documented: exits within 25 s

log = logging.getLogger("receiver")
HANDLED = (signal.SIGINT, signal.SIGTERM)


def run(settings: Settings, host: str, port: int, *, log_level: str = "INFO") -> None:
    configure(log_level)
    app = create_app(settings, tune_gc=True)
    log.info(
        "receiver starting",
        extra={
            "listen": f"{host}:{port}",
            "public_url": settings.public_url,
            "providers": sorted(settings.providers),
            "database": settings.database_url,
        },
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep our JSON logging
        access_log=False,  # our middleware logs each request, without secrets
        proxy_headers=True,  # X-Forwarded-* trusted from FORWARDED_ALLOW_IPS (default 127.0.0.1)
        timeout_graceful_shutdown=SHUTDOWN_REQUESTS,
        server_header=False,
    )
    _Server(config).run()


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT once its graceful shutdown is done, so the process
    ends as "killed by a signal". We finished cleanly by then, so we exit 0 instead; a
    second signal still forces the exit, as in uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

"""python -m receiver.sandbox: the four simulated providers on one port, on real time."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

import uvicorn

from receiver.clock import SystemClock
from receiver.sandbox import PROVIDER_NAMES, SandboxConfig, create_sandbox_app, default_api_keys


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m receiver.sandbox",
        description="Serve simulated apimall, apipod, dreamcore and revidapi APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--pending-seconds", type=float, default=1.0)
    parser.add_argument("--processing-seconds", type=float, default=2.0)
    parser.add_argument(
        "--processing-jitter-seconds",
        type=float,
        default=0.0,
        help="add a uniform draw in [0, this] to each task's processing time",
    )
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="PROVIDER=KEY",
        help="the key a provider accepts (default sandbox-PROVIDER-key); repeatable",
    )
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    keys = default_api_keys()
    for item in args.api_key:
        name, sep, key = item.partition("=")
        if not sep or name not in PROVIDER_NAMES or not key:
            sys.exit(f"--api-key wants PROVIDER=KEY with PROVIDER one of {PROVIDER_NAMES}")
        keys[name] = key
    config = SandboxConfig(
        pending_seconds=args.pending_seconds,
        processing_seconds=args.processing_seconds,
        processing_jitter_seconds=args.processing_jitter_seconds,
        hang_seconds=args.hang_seconds,
        seed=args.seed,
        api_keys=keys,
    )
    sandbox = create_sandbox_app(SystemClock(), config=config)
    # Bind and listen before printing, so whoever reads the URLs can connect at once.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections (no Nagle delays).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    root = f"http://{host}:{sock.getsockname()[1]}"
    for name in PROVIDER_NAMES:
        print(f"{name:<10} {root}/{name}  key={keys[name]}")
    print(f"{'control':<10} {root}/_sim", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            sandbox.app,
            log_level=args.log_level,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=2,
        )
    )
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()

"""Bearer-token authentication for the management API, compared in constant time."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from receiver.http.problems import Problem


def require_token(request: Request, expected: bytes) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token.strip().encode() if scheme.lower() == "bearer" else b""
    # compare_digest on equal-type bytes takes the same time wherever they differ.
    if not presented or not hmac.compare_digest(presented, expected):
        raise Problem(
            401,
            "unauthorized",
            "a valid API token is required: send 'Authorization: Bearer $RECEIVER_API_TOKEN'",
            headers={"WWW-Authenticate": 'Bearer realm="receiver"'},
        )

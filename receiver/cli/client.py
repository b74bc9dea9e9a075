"""A small synchronous client for the management API.

Every way a call can go wrong ends as one `CliError` whose exit code says what
kind of wrong it was and whose message says what to do about it: problem+json
answers by their status, transport errors as "unreachable".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from receiver import __version__
from receiver.cli.errors import CliError, ExitCode

DEFAULT_URL = "http://127.0.0.1:8000"
JSON = dict[str, Any]
Params = Mapping[str, str | int | None]


def segment(value: str) -> str:
    """An id as one path segment, whatever the user typed."""
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    data: JSON
    headers: httpx.Headers


class ApiClient:
    def __init__(self, base_url: str | None, token: str | None, *, timeout: float = 60.0) -> None:
        self.base_url = (base_url or DEFAULT_URL).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CliError(
                ExitCode.USAGE,
                f"RECEIVER_URL (or --url) is {self.base_url!r}, not an http:// or https:// URL",
            )
        self.token = token or None
        headers = {"user-agent": f"receiver-cli/{__version__}", "accept": "application/json"}
        if self.token is not None:
            if not (self.token.isascii() and self.token.isprintable()):
                raise CliError(
                    ExitCode.USAGE,
                    "RECEIVER_API_TOKEN (or --token) has characters that cannot be sent; "
                    "copy the token again",
                )
            headers["authorization"] = f"Bearer {self.token}"
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0)
        )

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: JSON | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=query, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise CliError(
                ExitCode.UNREACHABLE,
                f"no answer from the service at {self.base_url} ({type(exc).__name__}); "
                "check that `receiver serve` is running there and try again",
            ) from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise CliError(
                ExitCode.UNREACHABLE,
                f"cannot reach the service at {self.base_url} ({reason}); "
                "start it with `receiver serve`, or set RECEIVER_URL (or --url) to where it runs",
            ) from None
        if response.status_code >= 400:
            raise self._refusal(method, path, response)
        return Answer(response.status_code, self._json(response), response.headers)

    def get(self, path: str, params: Params | None = None) -> JSON:
        return self.call("GET", path, params=params).data

    def post(self, path: str, body: JSON | None = None) -> JSON:
        return self.call("POST", path, body=body).data

    def patch(self, path: str, body: JSON) -> JSON:
        return self.call("PATCH", path, body=body).data

    def delete(self, path: str) -> None:
        self.call("DELETE", path)

    def _json(self, response: httpx.Response) -> JSON:
        if response.status_code == 204:
            return {}
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CliError(
                ExitCode.SERVICE_FAILED,
                f"{self.base_url} answered {response.status_code} with something other than a "
                "JSON object; is RECEIVER_URL (or --url) a receiver service?",
            )
        return data

    def _refusal(self, method: str, path: str, response: httpx.Response) -> CliError:
        status = response.status_code
        problem = _problem(response)
        if problem is None:
            what = f"{method} {self.base_url}{path} answered {status} {response.reason_phrase}"
            if status >= 500:
                return CliError(ExitCode.SERVICE_FAILED, f"{what}; the service failed")
            return CliError(
                _code_for(status), f"{what}; is RECEIVER_URL (or --url) a receiver service?"
            )
        detail = str(problem.get("detail") or problem.get("title") or response.reason_phrase)
        kind = str(problem.get("type") or "").removeprefix("/problems/")
        if status == 401:
            if self.token is None:
                message = "no API token: set RECEIVER_API_TOKEN (or --token) to the service's token"
            else:
                message = (
                    "the service refused the API token: set RECEIVER_API_TOKEN (or --token) "
                    "to the token the service was started with"
                )
            return CliError(ExitCode.UNAUTHORIZED, message)
        if status == 404:
            return CliError(ExitCode.NOT_FOUND, detail)
        label = f"{status} {kind}" if kind else str(status)
        if status >= 500:
            return CliError(ExitCode.SERVICE_FAILED, f"the service failed ({label}): {detail}")
        return CliError(_code_for(status), f"refused ({label}): {detail}", _field_errors(problem))


def _code_for(status: int) -> ExitCode:
    if status == 401:
        return ExitCode.UNAUTHORIZED
    if status == 404:
        return ExitCode.NOT_FOUND
    return ExitCode.SERVICE_FAILED if status >= 500 else ExitCode.REFUSED


def _problem(response: httpx.Response) -> JSON | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _field_errors(problem: JSON) -> list[str]:
    errors = problem.get("errors")
    if not isinstance(errors, list):
        return []
    lines = []
    for error in errors:
        if isinstance(error, dict):
            lines.append(f"{error.get('field') or 'body'}: {error.get('message', '')}")
    return lines

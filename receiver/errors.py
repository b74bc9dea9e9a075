"""Every exception the package raises on purpose.

    ReceiverError
    ├── SettingsError        an environment variable has an invalid value
    ├── StoreError           the database cannot be opened or migrated
    └── ProviderError        an upstream call did not give us what we asked for
        ├── TransientError   worth trying again later (429, 5xx, timeouts, connection errors)
        └── PermanentError   the provider refused; repeating will not help (400, 401, 402, ...)

Foreign exceptions (httpx, sqlite3) are translated where they enter, with
`raise ... from exc`, so callers only meet these.
"""

from __future__ import annotations


class ReceiverError(Exception):
    """Root of every error this package raises on purpose."""


class SettingsError(ReceiverError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class StoreError(ReceiverError):
    pass


class ProviderError(ReceiverError):
    """An upstream call failed.

    `code` and `message` are the provider's own when it gave them (HTTP status
    or error code in the body), so a failed task shows what the provider said.
    """

    transient: bool = False

    def __init__(
        self,
        provider: str,
        code: str,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        self.provider = provider
        self.code = code
        self.message = message
        self.http_status = http_status
        # Seconds the provider asked us to wait (Retry-After), when it said.
        self.retry_after = retry_after
        # True when the request may have been acted on upstream but no usable
        # answer came back (a timeout after sending, a dropped connection, a
        # garbled 2xx). An HTTP error answer (429, 5xx) says the request was
        # handled and refused, so its outcome is known.
        self.outcome_unknown = outcome_unknown
        super().__init__(f"{provider}: {code}: {message}")


class TransientError(ProviderError):
    transient = True


class PermanentError(ProviderError):
    transient = False

"""Configuration, read once from the environment into one frozen object.

Every invalid value is reported at once, each with the variable's name, what
was wrong and what is expected, so an operator fixes them in one go.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from receiver.core.model import PROVIDERS
from receiver.errors import SettingsError
from receiver.providers import DEFAULT_BASE_URLS

T = TypeVar("T")

DEFAULT_PROVIDER_ORDER = ("revidapi", "apimall", "apipod", "dreamcore")
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    api_key: str = field(repr=False)
    base_url: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///receiver.db"
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    # Secrets stay out of repr(), so no log line or traceback can show them.
    api_token: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    default_provider: str | None = None
    allow_private_urls: bool = False
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    url: str = "http://127.0.0.1:8000"
    task_deadline: float = 900.0
    callback_grace: float = 60.0
    # Our own knobs (not in the fixed contract, documented in the README).
    poll_concurrency: int = 16
    upstream_timeout: float = 30.0
    delivery_timeout: float = 15.0
    delivery_concurrency: int = 64
    subscription_concurrency: int = 8
    # Whether a subscription that answers fast may hold more than its share (see
    # Dispatcher.limit): the default, `auto`; a number for the variable fixes the cap.
    subscription_borrowing: bool = True
    disable_after: float = 5 * 86400.0
    retention: float = 30 * 86400.0
    log_level: str = "INFO"

    @property
    def database_path(self) -> Path:
        return sqlite_path(self.database_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return _read(os.environ if env is None else env)


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative.db` is relative to the working directory; `sqlite:////abs.db` is absolute."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError("expected sqlite:///relative.db or sqlite:////absolute/path.db")
    return Path(url[len(prefix) :])


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    return value.rstrip("/")


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return port


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError("expected a positive number of seconds")
    return number


def _non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError("expected zero or a positive number of seconds")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("expected a whole number of at least 1")
    return number


AUTO_SUBSCRIPTION_CONCURRENCY = 8


def _subscription_concurrency(value: str) -> tuple[int, bool]:
    """`auto` (8 each, more for one that answers fast) or a fixed cap."""
    if value.strip().lower() == "auto":
        return AUTO_SUBSCRIPTION_CONCURRENCY, True
    try:
        return _count(value), False
    except ValueError:
        raise ValueError("expected auto or a whole number of at least 1") from None


def _schedule(value: str) -> tuple[float, ...]:
    try:
        steps = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise ValueError("expected comma-separated seconds, e.g. 5,300,1800") from None
    if not steps or any(not 0 <= step < float("inf") for step in steps):
        raise ValueError("expected comma-separated seconds, e.g. 5,300,1800")
    return steps


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


def _database_url(value: str) -> str:
    sqlite_path(value)
    return value


def _read(env: Mapping[str, str]) -> Settings:
    problems: list[str] = []

    def get(name: str, parse: Callable[[str], T], default: T) -> T:
        raw = env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            problems.append(f"{name}={raw!r}: {exc}")
            return default

    providers: dict[str, ProviderConfig] = {}
    for name in PROVIDERS:
        prefix = f"RECEIVER_{name.upper()}"
        base_url = get(f"{prefix}_BASE_URL", _http_url, DEFAULT_BASE_URLS[name])
        key = env.get(f"{prefix}_API_KEY", "")
        if key:
            providers[name] = ProviderConfig(name, key, base_url)

    default_provider = env.get("RECEIVER_DEFAULT_PROVIDER") or None
    if default_provider is not None and default_provider not in providers:
        enabled = ", ".join(providers) or "none: set RECEIVER_<P>_API_KEY to enable one"
        problems.append(
            f"RECEIVER_DEFAULT_PROVIDER={default_provider!r}: not an enabled provider "
            f"(enabled: {enabled})"
        )
        default_provider = None
    if default_provider is None:
        default_provider = next((p for p in DEFAULT_PROVIDER_ORDER if p in providers), None)

    port_default = get("PORT", _port, 8000)
    per_subscription, borrowing = get(
        "RECEIVER_SUBSCRIPTION_CONCURRENCY",
        _subscription_concurrency,
        (AUTO_SUBSCRIPTION_CONCURRENCY, True),
    )
    settings = Settings(
        database_url=get("RECEIVER_DATABASE_URL", _database_url, "sqlite:///receiver.db"),
        public_url=get("RECEIVER_PUBLIC_URL", _http_url, "http://127.0.0.1:8000"),
        # A platform that sets PORT (Procfile platforms) routes to the container from
        # outside, so then listen on every interface unless told otherwise.
        host=env.get("RECEIVER_HOST") or ("0.0.0.0" if env.get("PORT") else "127.0.0.1"),
        port=get("RECEIVER_PORT", _port, port_default),
        api_token=env.get("RECEIVER_API_TOKEN") or None,
        secret_key=env.get("RECEIVER_SECRET_KEY") or None,
        providers=providers,
        default_provider=default_provider,
        allow_private_urls=get("RECEIVER_ALLOW_PRIVATE_URLS", _bool, False),
        retry_schedule=get("RECEIVER_RETRY_SCHEDULE", _schedule, DEFAULT_RETRY_SCHEDULE),
        url=get("RECEIVER_URL", _http_url, "http://127.0.0.1:8000"),
        task_deadline=get("RECEIVER_TASK_DEADLINE", _positive, 900.0),
        callback_grace=get("RECEIVER_CALLBACK_GRACE", _non_negative, 60.0),
        poll_concurrency=get("RECEIVER_POLL_CONCURRENCY", _count, 16),
        upstream_timeout=get("RECEIVER_UPSTREAM_TIMEOUT", _positive, 30.0),
        delivery_timeout=get("RECEIVER_DELIVERY_TIMEOUT", _positive, 15.0),
        delivery_concurrency=get("RECEIVER_DELIVERY_CONCURRENCY", _count, 64),
        subscription_concurrency=per_subscription,
        subscription_borrowing=borrowing,
        disable_after=get("RECEIVER_DISABLE_AFTER_DAYS", _positive, 5.0) * 86400,
        retention=get("RECEIVER_RETENTION_DAYS", _positive, 30.0) * 86400,
        log_level=get("RECEIVER_LOG_LEVEL", _log_level, "INFO"),
    )
    if problems:
        raise SettingsError(problems)
    return settings

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.errors import SettingsError
from receiver.settings import Settings


def test_defaults_match_the_contract() -> None:
    s = Settings.from_env({})
    assert s.database_path == Path("receiver.db")
    assert s.public_url == "http://127.0.0.1:8000"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert (s.task_deadline, s.callback_grace) == (900, 60)
    assert s.providers == {} and s.default_provider is None
    assert s.allow_private_urls is False


def test_a_provider_is_enabled_exactly_when_its_key_is_set() -> None:
    s = Settings.from_env(
        {
            "RECEIVER_APIPOD_API_KEY": "k1",
            "RECEIVER_DREAMCORE_API_KEY": "k2",
            "RECEIVER_DREAMCORE_BASE_URL": "http://127.0.0.1:9000/dreamcore/",
        }
    )
    assert set(s.providers) == {"apipod", "dreamcore"}
    assert s.providers["dreamcore"].base_url == "http://127.0.0.1:9000/dreamcore"
    assert s.providers["apipod"].base_url == "https://api.apipod.ai/v1"
    # First enabled of revidapi, apimall, apipod, dreamcore.
    assert s.default_provider == "apipod"


def test_paths_and_port_fallback() -> None:
    s = Settings.from_env({"RECEIVER_DATABASE_URL": "sqlite:////var/lib/r.db", "PORT": "5000"})
    assert s.database_path == Path("/var/lib/r.db") and s.port == 5000
    assert s.host == "0.0.0.0"  # a platform that sets PORT routes from outside
    assert Settings.from_env({"PORT": "5000", "RECEIVER_PORT": "6000"}).port == 6000


def test_every_invalid_value_is_reported_at_once_by_name() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(
            {
                "RECEIVER_PORT": "99999",
                "RECEIVER_DATABASE_URL": "postgres://x",
                "RECEIVER_ALLOW_PRIVATE_URLS": "maybe",
                "RECEIVER_RETRY_SCHEDULE": "5,soon",
                "RECEIVER_TASK_DEADLINE": "-1",
                "RECEIVER_PUBLIC_URL": "ftp://x",
                "RECEIVER_DEFAULT_PROVIDER": "apimall",
            }
        )
    text = str(info.value)
    for name in (
        "RECEIVER_PORT",
        "RECEIVER_DATABASE_URL",
        "RECEIVER_ALLOW_PRIVATE_URLS",
        "RECEIVER_RETRY_SCHEDULE",
        "RECEIVER_TASK_DEADLINE",
        "RECEIVER_PUBLIC_URL",
        "RECEIVER_DEFAULT_PROVIDER",
    ):
        assert name in text
    assert len(info.value.problems) == 7


@pytest.mark.parametrize(
    ("value", "cap", "borrowing"),
    [(None, 8, True), ("auto", 8, True), ("AUTO", 8, True), ("4", 4, False), ("8", 8, False)],
)
def test_subscription_concurrency_is_auto_unless_a_number_fixes_it(
    value: str | None, cap: int, borrowing: bool
) -> None:
    env = {} if value is None else {"RECEIVER_SUBSCRIPTION_CONCURRENCY": value}
    s = Settings.from_env(env)
    assert (s.subscription_concurrency, s.subscription_borrowing) == (cap, borrowing)


@pytest.mark.parametrize("value", ["0", "-3", "fast", "2.5"])
def test_a_bad_subscription_concurrency_names_both_forms(value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"RECEIVER_SUBSCRIPTION_CONCURRENCY": value})
    assert "RECEIVER_SUBSCRIPTION_CONCURRENCY" in str(info.value)
    assert "expected auto or a whole number of at least 1" in str(info.value)

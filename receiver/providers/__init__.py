"""Provider adapters: one per upstream API, each building requests and parsing answers.

Adapters never send anything; workers do (see `base.Adapter`).
"""

from __future__ import annotations

from receiver.providers._common import BaseAdapter
from receiver.providers.apimall import ApimallAdapter
from receiver.providers.apipod import ApipodAdapter
from receiver.providers.base import Adapter, ProviderLimits
from receiver.providers.dreamcore import DreamcoreAdapter
from receiver.providers.revidapi import RevidapiAdapter

__all__ = [
    "ADAPTER_CLASSES",
    "DEFAULT_BASE_URLS",
    "Adapter",
    "ApimallAdapter",
    "ApipodAdapter",
    "DreamcoreAdapter",
    "ProviderLimits",
    "RevidapiAdapter",
    "make_adapter",
]

DEFAULT_BASE_URLS: dict[str, str] = {
    "apimall": "https://gateway.apimall.ai/api/v1",
    "apipod": "https://api.apipod.ai/v1",
    "dreamcore": "https://seedream45ai.org/api",
    "revidapi": "https://api.revidapi.com/paid",
}

ADAPTER_CLASSES: dict[str, type[BaseAdapter]] = {
    "apimall": ApimallAdapter,
    "apipod": ApipodAdapter,
    "dreamcore": DreamcoreAdapter,
    "revidapi": RevidapiAdapter,
}


def make_adapter(name: str, base_url: str, api_key: str) -> Adapter:
    """The adapter for provider `name`; ValueError for a name we do not know."""
    try:
        cls = ADAPTER_CLASSES[name]
    except KeyError:
        known = ", ".join(ADAPTER_CLASSES)
        raise ValueError(f"unknown provider {name!r}; known: {known}") from None
    return cls(base_url, api_key)

"""The lock-free counters and histograms render exactly as prometheus-client's own do."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from receiver.metrics import LATENCY_BUCKETS, LoopCounter, LoopHistogram


def samples(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    """Every sample a scrape shows, `_created` ones aside (ours have none)."""
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_a_histogram_counts_each_value_in_the_bucket_whose_bound_it_does_not_exceed() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    mine = LoopHistogram("x_seconds", "doc", LATENCY_BUCKETS, ours)
    reference = Histogram("x_seconds", "doc", buckets=LATENCY_BUCKETS, registry=theirs)
    # On a bound, between bounds, below the first, above the last, and zero.
    for value in (0.001, 0.0011, 0.0, 0.00001, 0.25, 30.0, 31.5, 1e6, 0.0025):
        mine.observe(value)
        reference.observe(value)
    assert samples(ours) == samples(theirs)
    text = generate_latest(ours).decode()
    assert 'x_seconds_bucket{le="0.001"} 3.0' in text
    assert 'x_seconds_bucket{le="30.0"} 7.0' in text
    assert 'x_seconds_bucket{le="+Inf"} 9.0' in text
    assert "x_seconds_count 9.0" in text


def test_an_empty_histogram_shows_zero_everywhere() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    LoopHistogram("x_seconds", "doc", (0.1, 1), ours)
    Histogram("x_seconds", "doc", buckets=(0.1, 1), registry=theirs)
    assert samples(ours) == samples(theirs)


def test_a_counter_shows_a_total_per_label_set() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    mine = LoopCounter("y", "doc", ["provider", "outcome"], ours)
    reference = Counter("y", "doc", ["provider", "outcome"], registry=theirs)
    for labels in [("a", "ok"), ("a", "ok"), ("b", "ok"), ("a", "bad")]:
        mine.inc(*labels)
        reference.labels(*labels).inc()
    assert samples(ours) == samples(theirs)
    assert mine.value("a", "ok") == 2
    assert mine.value("c", "ok") == 0


def test_a_counter_refuses_the_wrong_number_of_labels() -> None:
    counter = LoopCounter("y", "doc", ["provider", "outcome"], CollectorRegistry())
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc("a")
    assert counter.value("a") == 0


def test_a_histogram_needs_distinct_buckets() -> None:
    with pytest.raises(ValueError, match="distinct buckets"):
        LoopHistogram("x", "doc", (0.1, 0.1), CollectorRegistry())

"""Prometheus metrics: one registry per running service (prometheus-client, the reference
implementation of the text format, rather than formatting it by hand).

The counters and the delivery histograms are kept by `LoopCounter` and `LoopHistogram`:
plain numbers, no lock, collected into prometheus-client's metric families when
`/metrics` is read. Every update and every scrape happens on the event loop thread
(the database threads count nothing), so prometheus-client's lock per update (a
`Counter` child's `inc` 0.72 us, a `Histogram.observe` 0.89 us; two observations and a
count per delivery, two or three counts per callback) buys nothing here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_go_float = cast(Callable[[float], str], floatToGoString)  # the format `le` labels take

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Finer around 100 ms, the schedule lag's target (benchmarks: B4).
SCHEDULE_LAG_BUCKETS = tuple(sorted({*LATENCY_BUCKETS, 0.075, 0.15}))
# A commit is a WAL write and an fsync: ~1 ms on a good disk, tens of ms on a slow one.
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# Units of work committed together (group commit), up to the writer's cap of 256.
COMMIT_UNITS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class LoopCounter(Collector):
    """A counter with labels, exposed as `<name>_total`. Event loop thread only."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._values: dict[tuple[str, ...], int] = {}
        registry.register(self)

    def inc(self, *labels: str) -> None:
        """Count one, for these label values (in the order of `labelnames`)."""
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {labels}")
        values = self._values
        values[labels] = values.get(labels, 0) + 1

    def value(self, *labels: str) -> int:
        return self._values.get(labels, 0)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in self._values.items():
            family.add_metric(labels, value)
        yield family


class LoopHistogram(Collector):
    """A histogram without labels (buckets are upper bounds, inclusive, as Prometheus
    has them). Event loop thread only."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = sorted(float(b) for b in buckets)
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name} needs distinct buckets, got {buckets}")
        self.name = name
        self.documentation = documentation
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterator[Metric]:
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip([*self._bounds, float("inf")], self._counts, strict=True):
            total += count
            buckets.append((_go_float(bound), total))
        yield HistogramMetricFamily(
            self.name, self.documentation, buckets=buckets, sum_value=self._sum
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.callbacks = LoopCounter(
            "receiver_callbacks",
            "Provider callbacks received, by provider and what became of them",
            ["provider", "outcome"],
            r,
        )
        self.creates = LoopCounter(
            "receiver_upstream_creates",
            "Create requests sent to providers, by result",
            ["provider", "result"],
            r,
        )
        self.polls = LoopCounter(
            "receiver_polls",
            "Status queries sent to providers, by result",
            ["provider", "result"],
            r,
        )
        self.poll_schedule_lag = Histogram(
            "receiver_poll_schedule_lag_seconds",
            "From a status query's due time to the moment it starts, by provider",
            ["provider"],
            buckets=SCHEDULE_LAG_BUCKETS,
            registry=r,
        )
        self.transitions = LoopCounter(
            "receiver_task_transitions",
            "Task state changes, by provider and new status",
            ["provider", "status"],
            r,
        )
        self.deliveries = LoopCounter(
            "receiver_delivery_attempts",
            "Delivery attempts, by outcome (delivered, retry, dead)",
            ["outcome"],
            r,
        )
        self.delivery_latency = LoopHistogram(
            "receiver_delivery_attempt_seconds",
            "Duration of one delivery attempt, connection to answer",
            LATENCY_BUCKETS,
            r,
        )
        self.delivery_lag = LoopHistogram(
            "receiver_delivery_lag_seconds",
            "From the event being written to its first successful delivery",
            LATENCY_BUCKETS,
            r,
        )
        self.db_commit = LoopHistogram(
            "receiver_db_commit_seconds",
            "Duration of one write transaction's commit: its WAL pages written and fsynced",
            COMMIT_BUCKETS,
            r,
        )
        self.db_commit_units = LoopHistogram(
            "receiver_db_commit_units",
            "Units of work (a callback, a poll, a batch of delivery records...) per commit",
            COMMIT_UNITS_BUCKETS,
            r,
        )
        self.due = Gauge(
            "receiver_due_work",
            "Work whose time has come and that is not yet claimed, by kind",
            ["kind"],
            registry=r,
        )
        self.requests = LoopCounter(
            "receiver_http_requests",
            "HTTP requests served, by route and status code",
            ["method", "route", "status"],
            r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics of the operator, on a registry of their own.

A private ``CollectorRegistry`` (not the process-global one) lets tests build as many
``Metrics`` as they like and read values back without cross-talk.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["CONDITION_TYPES", "Metrics"]

CONDITION_TYPES = ("Ready", "Reconciling", "Stalled", "Drifted")
_STATUSES = ("True", "False", "Unknown")
# Engine operations take from a second (offline) to half an hour (a first AWS up).
_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.operations = Counter(
            "payplat_operations",
            "Engine operations by operation and result.",
            ["operation", "result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "payplat_operation_duration_seconds",
            "Duration of engine operations.",
            ["operation"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.platforms = Gauge(
            "payplat_platforms",
            "PaymentPlatforms by condition type and status.",
            ["condition", "status"],
            registry=self.registry,
        )
        self.drift_detected = Counter(
            "payplat_drift_detected", "Drift checks that found AWS differing from the stack.", registry=self.registry
        )
        self._conditions: dict[str, dict[str, str]] = {}

    def operation_finished(self, operation: str, result: str, seconds: float) -> None:
        self.operations.labels(operation=operation, result=result).inc()
        self.duration.labels(operation=operation).observe(seconds)

    def platform_status(self, key: str, conditions: Iterable[Mapping[str, Any]]) -> None:
        """Remember one platform's conditions and recompute the gauge from all of them."""
        self._conditions[key] = {c["type"]: c["status"] for c in conditions if c.get("type") in CONDITION_TYPES}
        self._refresh()

    def platform_gone(self, key: str) -> None:
        self._conditions.pop(key, None)
        self._refresh()

    def _refresh(self) -> None:
        tally = Tally((kind, value) for conditions in self._conditions.values() for kind, value in conditions.items())
        for kind in CONDITION_TYPES:
            for value in _STATUSES:
                self.platforms.labels(condition=kind, status=value).set(tally[(kind, value)])

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve /metrics from a daemon thread (prometheus_client's own server)."""
        start_http_server(port, addr=addr, registry=self.registry)

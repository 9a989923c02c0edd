"""Metrics: counters, histogram and the per-condition gauge computed from all platforms."""

from __future__ import annotations

from payplat.controller.metrics import Metrics


def conditions(**values: str) -> list[dict[str, str]]:
    return [{"type": kind, "status": value} for kind, value in values.items()]


def test_operations_and_duration() -> None:
    metrics = Metrics()
    metrics.operation_finished("up", "succeeded", 12.0)
    metrics.operation_finished("up", "failed", 700.0)
    sample = metrics.registry.get_sample_value
    assert sample("payplat_operations_total", {"operation": "up", "result": "succeeded"}) == 1
    assert sample("payplat_operation_duration_seconds_count", {"operation": "up"}) == 2
    assert sample("payplat_operation_duration_seconds_bucket", {"operation": "up", "le": "30.0"}) == 1


def test_platform_gauge_counts_each_platform_once() -> None:
    metrics = Metrics()
    metrics.platform_status("a", conditions(Ready="True", Stalled="False"))
    metrics.platform_status("b", conditions(Ready="False", Stalled="True"))
    metrics.platform_status("a", conditions(Ready="True", Stalled="False"))  # an update, not a new platform
    sample = metrics.registry.get_sample_value
    assert sample("payplat_platforms", {"condition": "Ready", "status": "True"}) == 1
    assert sample("payplat_platforms", {"condition": "Stalled", "status": "True"}) == 1
    metrics.platform_gone("b")
    assert sample("payplat_platforms", {"condition": "Stalled", "status": "True"}) == 0
    assert sample("payplat_platforms", {"condition": "Ready", "status": "True"}) == 1


def test_two_instances_do_not_share_state() -> None:
    first, second = Metrics(), Metrics()
    first.drift_detected.inc()
    assert first.registry.get_sample_value("payplat_drift_detected_total") == 1
    assert second.registry.get_sample_value("payplat_drift_detected_total") == 0

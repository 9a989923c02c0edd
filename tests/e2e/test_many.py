"""Fifty platforms applied at once: all reach Ready, and never more engine operations run
at the same time than the operator's limit allows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from payplat_dev.localcluster import LocalCluster

from .support import RunOperator, journal, platform, ready_for_generation, wait_for

pytestmark = pytest.mark.e2e

COUNT = 50
LIMIT = 3


def test_fifty_platforms_reach_ready_within_the_concurrency_limit(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    operator = run_operator(
        env={"PAYPLAT_MAX_CONCURRENT_OPERATIONS": str(LIMIT), "PAYPLAT_OFFLINE_STEP_DELAY": "0.005"}
    )
    names = [f"many-{i:02d}" for i in range(COUNT)]

    cluster.apply({"apiVersion": "v1", "kind": "List", "items": [platform(n) for n in names]}, namespace=namespace)
    wait_for(
        lambda: _all_ready(cluster, namespace, names), f"all {COUNT} platforms Ready", timeout=600, operator=operator
    )

    windows = [_cloud_window(state_dir, namespace, name) for name in names]
    assert all(windows)  # every platform's stack really was created
    most = _max_overlap(windows)
    # Each window lies inside its operation's slot, so overlapping windows were
    # operations in flight together: at most LIMIT, and more than one (really concurrent).
    assert 2 <= most <= LIMIT, most


def _all_ready(cluster: LocalCluster, namespace: str, names: list[str]) -> bool:
    items = cluster.get_json("paymentplatforms", namespace=namespace)["items"]
    ready = {i["metadata"]["name"] for i in items if ready_for_generation(i)}
    return ready >= set(names)


def _cloud_window(state_dir: Path, namespace: str, name: str) -> tuple[datetime, datetime] | None:
    """From the first to the last fake-cloud write of the platform's (single) up."""
    times = [datetime.fromisoformat(e["time"]) for e in journal(state_dir, namespace, name)]
    return (min(times), max(times)) if times else None


def _max_overlap(windows: list[tuple[datetime, datetime] | None]) -> int:
    edges = sorted(
        [(w[0], 1) for w in windows if w] + [(w[1], -1) for w in windows if w], key=lambda edge: (edge[0], edge[1])
    )  # an end before a start at the same instant
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most

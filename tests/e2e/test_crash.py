"""The operator killed with SIGKILL in the middle of an ``up``, then restarted: on both
engines. On the real one the whole process group dies (operator, Pulumi CLI, provider),
as a container does; the CLI's lock file and its pending create stay in the S3 backend."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from payplat_dev.localcluster import LocalCluster

from .support import ENGINES, CloudView, RunOperator, log_records, platform, stack_name, wait_for, wait_ready

pytestmark = pytest.mark.e2e

#: On the real engine one step in the middle of the stack (the ECS service: its dependents
#: wait for it) hangs until the kill, so the kill lands while a create is in flight.
STANDIN_SLOW = {"PAYPLAT_STANDIN_SLOW": "ecs/service:Service:300"}


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_sigkill_mid_operation_then_restart_converges_without_creating_anything_twice(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView, engine: str, real_kit: Any
) -> None:
    if engine == "offline":
        slow = run_operator(env={"PAYPLAT_OFFLINE_STEP_DELAY": "0.2"})
    else:
        slow = run_operator(env=STANDIN_SLOW)
    cluster.apply(platform("crashy"), namespace=namespace)
    if engine == "offline":
        wait_for(lambda: len(cloud.journal(namespace, "crashy")) >= 5, "the first up to be under way", operator=slow)
    else:
        stack = stack_name(namespace, "crashy")
        wait_for(
            lambda: any("ecs/service:Service" in s["urn"] for s in real_kit.cloud.started(stack)),
            "the ECS service create to be in flight",
            timeout=180,
            operator=slow,
        )
        _quiet(lambda: len(cloud.journal(namespace, "crashy")))  # the other branches done and saved

    slow.process.kill()  # SIGKILL: no cleanup, the stack lock and a half-done up stay behind
    half_done = cloud.journal(namespace, "crashy")
    if engine == "pulumi":
        left = real_kit.state_objects()
        prefix = f"{real_kit.prefix}/.pulumi/locks/organization/payplat/{stack}/"
        held = [json.loads(v) for k, v in left.items() if k.startswith(prefix)]
        assert len(held) == 1 and held[0]["pid"] > 0  # the CLI's own lock, its holder now dead
        checkpoint = json.loads(left[f"{real_kit.prefix}/.pulumi/stacks/payplat/{stack}.json"])
        pending = checkpoint["checkpoint"]["latest"].get("pending_operations") or []
        assert [p["type"] for p in pending] == ["creating"] * len(pending) and pending

    restarted = run_operator(name="operator-restarted")
    ready = wait_ready(cluster, namespace, "crashy", restarted)

    entries = cloud.journal(namespace, "crashy")
    creates = Counter(e["urn"] for e in entries if e["action"] == "create")
    assert [urn for urn, n in creates.items() if n > 1] == []
    assert not [e for e in entries if e["action"] == "delete"]  # nothing torn down and re-made either
    assert entries[: len(half_done)] == half_done
    assert len(creates) > len(half_done)  # the restart finished the job the crash interrupted
    assert ready["status"]["observedGeneration"] == 1
    # The crash really left the stack locked by a dead process, and the restart said so.
    messages = [str(r.get("message")) for r in log_records(restarted)]
    assert any("broke the stale lock" in m for m in messages)
    if engine == "pulumi":
        assert any("pending operations" in m for m in messages)
        assert not [k for k in real_kit.state_objects() if "/.pulumi/locks/" in k]


def _quiet(count: Any, seconds: float = 3.0, timeout: float = 120.0) -> None:
    """Wait until ``count()`` has not changed for ``seconds``."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
    pytest.fail(f"the cloud journal kept changing for {timeout:.0f}s")

"""The operator killed with SIGKILL in the middle of an ``up``, then restarted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from payplat.localcluster import LocalCluster

from .support import RunOperator, journal, log_records, platform, wait_for, wait_ready

pytestmark = pytest.mark.e2e


def test_sigkill_mid_operation_then_restart_converges_without_creating_anything_twice(
        cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path) -> None:
    slow = run_operator(env={"PAYPLAT_OFFLINE_STEP_DELAY": "0.2"})
    cluster.apply(platform("crashy"), namespace=namespace)
    wait_for(lambda: len(journal(state_dir, namespace, "crashy")) >= 5,
             "the first up to be under way", operator=slow)

    slow.process.kill()  # SIGKILL: no cleanup, the stack lock and a half-done up stay behind
    half_done = journal(state_dir, namespace, "crashy")
    restarted = run_operator(name="operator-restarted")
    ready = wait_ready(cluster, namespace, "crashy", restarted)

    entries = journal(state_dir, namespace, "crashy")
    creates = Counter(e["urn"] for e in entries if e["action"] == "create")
    assert [urn for urn, n in creates.items() if n > 1] == []
    assert not [e for e in entries if e["action"] == "delete"]  # nothing torn down and re-made either
    assert entries[:len(half_done)] == half_done
    assert len(creates) > len(half_done)  # the restart finished the job the crash interrupted
    assert ready["status"]["observedGeneration"] == 1
    # The crash really left the stack locked by a dead process, and the restart said so.
    assert any("broke the stale lock" in str(r.get("message")) for r in log_records(restarted))

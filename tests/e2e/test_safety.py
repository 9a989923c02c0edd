"""Operational safety on the real API server, with real operator processes: a drift
remediation never reverts a newer spec nor re-creates a deleted platform; a lock this
operator cannot prove its own is never broken and is shown in status; a delete asks the
engine, not the status; ``engine=pulumi`` without durable state refuses to start."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from payplat.controller.handlersteps import CHECK_DRIFT_ANNOTATION
from payplat.engines import locks, lockstore
from payplat.engines.fakecloud import FakeCloud, simulate_drift
from payplat.model.identity import stack_name
from payplat_dev.localcluster import LocalCluster
from payplat_dev.operatorproc import OperatorProcess
from payplat_dev.testbin import find_bin_dir
from tests.ship.rendering import MANIFESTS, by_kind_name, require, run

from .support import (
    RunOperator,
    condition,
    get_platform,
    journal,
    log_records,
    operator_as,
    platform,
    wait_for,
    wait_ready,
)

pytestmark = pytest.mark.e2e

#: Slow steps make the drift check's refresh last seconds, long enough to change the object
#: while it runs; a fast tick runs it as soon as it is asked for.
SLOW = {"PAYPLAT_DRIFT_TICK_SECONDS": "1", "PAYPLAT_OFFLINE_STEP_DELAY": "0.2"}
REMEDIATE = {
    "driftDetection": {"mode": "Remediate", "intervalMinutes": 60},
    "deletionPolicy": "Delete",
    "loadBalancer": {"deletionProtection": False},
    "network": {"flowLogs": False},
    "services": [{"name": "api", "image": "nginx:1.26", "public": True}],
}


def image_in_cloud(state_dir: Path, namespace: str, name: str) -> str:
    """The container image of the api service's task definition, as the fake cloud has it."""
    (task,) = [
        o
        for o in FakeCloud(state_dir, stack_name(namespace, name)).objects().values()
        if o.type == "aws:ecs/taskDefinition:TaskDefinition"
    ]
    return str(json.loads(task.inputs["containerDefinitions"])[0]["image"])


def drift_check_running(operator: OperatorProcess) -> bool:
    return any("refresh: reading" in record.get("message", "") for record in log_records(operator))


def start_a_drift_check_with_drift(
    cluster: LocalCluster, namespace: str, name: str, state_dir: Path, operator: OperatorProcess
) -> None:
    simulate_drift(state_dir, stack_name(namespace, name), f"{name}-vpc", inputs={"enableDnsHostnames": False})
    cluster.kubectl(
        "annotate", "pp", name, "-n", namespace, f"{CHECK_DRIFT_ANNOTATION}={time.time_ns()}", "--overwrite"
    )
    wait_for(lambda: drift_check_running(operator), "the drift check to start", timeout=60)


def refresh_still_running(operator: OperatorProcess) -> bool:
    """The refresh reports what it found only at its end."""
    return not any("changed outside Pulumi" in record.get("message", "") for record in log_records(operator))


def test_an_update_during_a_drift_check_is_not_reverted_by_the_remediation(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    operator = run_operator(env=SLOW)
    cluster.apply(platform("raced", REMEDIATE), namespace=namespace)
    wait_ready(cluster, namespace, "raced", operator)
    start_a_drift_check_with_drift(cluster, namespace, "raced", state_dir, operator)

    updated = json.loads(json.dumps(REMEDIATE))
    updated["services"][0]["image"] = "nginx:1.27"  # generation 2, while the refresh still runs
    cluster.apply(platform("raced", updated), namespace=namespace)
    assert refresh_still_running(operator), "the update landed after the refresh: no race was set up"
    obj = wait_ready(cluster, namespace, "raced", operator)
    assert obj["metadata"]["generation"] == 2
    wait_for(
        lambda: any("drift remediation of generation 1 not run" in r.get("message", "") for r in log_records(operator)),
        "the stale remediation to be dropped",
        operator=operator,
    )

    assert image_in_cloud(state_dir, namespace, "raced") == "nginx:1.27"  # never reverted to 1.26
    final = get_platform(cluster, namespace, "raced")
    assert final is not None and final["status"]["observedGeneration"] == 2
    assert condition(final, "Ready")["status"] == "True"


def test_a_delete_during_a_drift_check_is_not_undone_by_the_remediation(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    operator = run_operator(env=SLOW)
    cluster.apply(platform("gone", REMEDIATE), namespace=namespace)
    wait_ready(cluster, namespace, "gone", operator)
    start_a_drift_check_with_drift(cluster, namespace, "gone", state_dir, operator)

    cluster.kubectl("delete", "pp", "gone", "-n", namespace, "--wait=false")
    assert refresh_still_running(operator), "the delete landed after the refresh: no race was set up"
    wait_for(lambda: get_platform(cluster, namespace, "gone") is None, "the delete to finish", operator=operator)
    wait_for(
        lambda: any("drift remediation of generation 1 not run" in r.get("message", "") for r in log_records(operator)),
        "the stale remediation to be dropped",
        operator=operator,
    )

    entries = journal(state_dir, namespace, "gone")
    last_delete = max(i for i, e in enumerate(entries) if e["action"] == "delete")
    assert [e for e in entries[last_delete:] if e["action"] == "create"] == []  # nothing re-created
    assert FakeCloud(state_dir, stack_name(namespace, "gone")).objects() == {}  # nothing orphaned


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lock_this_operator_did_not_record_is_never_broken_and_shows_in_status(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    """A person's ``pulumi refresh`` on the operator's own host, killed, left its lock: the
    old rule (same host, dead pid) broke it. Without this operator's record it is alive."""
    stack = stack_name(namespace, "locked")
    key = f"{lockstore.lock_prefix('payplat', stack)}person.json"
    since = datetime.now(UTC)
    foreign = locks.LockInfo(pid=dead_pid(), username="alice", hostname=socket.gethostname(), timestamp=since)
    lockstore.FileBucket(state_dir).write(key, foreign.to_json())
    operator = run_operator()
    cluster.apply(platform("locked", {"network": {"flowLogs": False}}), namespace=namespace)

    blocked = wait_for(
        lambda: (obj := get_platform(cluster, namespace, "locked")) and obj.get("status", {}).get("stackLock") and obj,
        "the lock holder in status",
        operator=operator,
    )
    holder = blocked["status"]["stackLock"]
    assert holder["who"] == f"alice@{socket.gethostname()}" and holder["pid"] == foreign.pid
    assert holder["since"] == since.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "not an operation this operator recorded" in holder["judgement"]
    assert condition(blocked, "Ready")["reason"] == "StackLocked"
    time.sleep(3)  # several retries (backoff 1 s): still not broken
    assert (state_dir / key).exists()
    assert FakeCloud(state_dir, stack).entries() == []

    (state_dir / key).unlink()  # the person's decision, not the operator's
    ready = wait_ready(cluster, namespace, "locked", operator)
    assert "stackLock" not in ready["status"]


def test_a_delete_with_a_lost_status_still_destroys_what_the_engine_holds(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    operator = run_operator()
    cluster.apply(platform("amnesia", {**REMEDIATE, "driftDetection": {"mode": "Off"}}), namespace=namespace)
    wait_ready(cluster, namespace, "amnesia", operator)
    created = len(FakeCloud(state_dir, stack_name(namespace, "amnesia")).objects())
    operator.process.kill()
    # A lost status patch, or the object restored from a backup without its status.
    cluster.kubectl(
        "patch",
        "pp",
        "amnesia",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": None}),
    )
    assert get_platform(cluster, namespace, "amnesia").get("status") in (None, {})
    cluster.kubectl("delete", "pp", "amnesia", "-n", namespace, "--wait=false")

    restarted = run_operator(name="restarted")
    wait_for(lambda: get_platform(cluster, namespace, "amnesia") is None, "the delete to finish", operator=restarted)
    assert created > 20
    assert FakeCloud(state_dir, stack_name(namespace, "amnesia")).objects() == {}
    assert len([e for e in journal(state_dir, namespace, "amnesia") if e["action"] == "delete"]) == created


def test_the_kustomize_install_with_engine_pulumi_and_no_backend_refuses_to_start(
    cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    """Only the Helm schema refused this; a kustomize user switching the engine got an
    operator keeping every stack on the pod's emptyDir."""
    kubectl = require(find_bin_dir() / "kubectl", "pip install -e '.[test]'")
    objects = by_kind_name(run([str(kubectl), "kustomize", str(MANIFESTS)]).stdout)
    settings = dict(objects[("ConfigMap", "payplat-system", "payplat-operator")]["data"])
    settings["PAYPLAT_ENGINE"] = "pulumi"  # what the README's overlay patches, minus the backend
    settings["PAYPLAT_LEASE_NAMESPACE"] = namespace
    settings["PAYPLAT_NAMESPACES"] = namespace
    cluster.kubectl("create", "serviceaccount", "refused", "-n", namespace)
    operator = operator_as(cluster, namespace, "refused", settings, tmp_path / "state", name=f"refused-{namespace}")
    deadline = time.monotonic() + 60
    while operator.process.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not operator.process.alive(), "the operator started with state a restart would lose"
    assert operator.process.popen.returncode == 2
    log = operator.process.log_text()
    assert "PAYPLAT_BACKEND_URL" in log and "PAYPLAT_SECRETS_PROVIDER" in log and "Traceback" not in log
    leases = cluster.kubectl("get", "lease", "-n", namespace, "-o", "name", check=False).stdout
    assert "payplat-operator" not in leases  # it refused before taking part in anything
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*.json"))

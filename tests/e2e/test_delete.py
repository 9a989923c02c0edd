"""Deleting a PaymentPlatform: the finalizer, deletionPolicy, and a destroy that fails."""

from __future__ import annotations

import json

import pytest

from payplat_dev.localcluster import LocalCluster

from .support import ENGINES, CloudView, RunOperator, condition, get_platform, platform, wait_for, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("engine", ENGINES, indirect=True)]

# A protected load balancer would make destroy fail; the CRD refuses Delete with it.
DELETABLE = {"deletionPolicy": "Delete", "loadBalancer": {"deletionProtection": False}}


def live_resources(cloud: CloudView, namespace: str, name: str) -> int:
    return len(cloud.live(namespace, name))


def test_delete_policy_destroys_the_stack_before_the_object_goes(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView
) -> None:
    operator = run_operator()
    cluster.apply(platform("doomed", DELETABLE), namespace=namespace)
    obj = wait_ready(cluster, namespace, "doomed", operator)
    assert obj["metadata"]["finalizers"]  # the operator holds the object until it has cleaned up
    created = live_resources(cloud, namespace, "doomed")

    cluster.kubectl("delete", "pp", "doomed", "-n", namespace, "--wait=true", "--timeout=120s", timeout=150)

    assert get_platform(cluster, namespace, "doomed") is None
    deletes = [e for e in cloud.journal(namespace, "doomed") if e["action"] == "delete"]
    assert created > 20 and len(deletes) == created
    assert live_resources(cloud, namespace, "doomed") == 0


def test_retain_policy_lets_the_object_go_without_touching_the_cloud(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView
) -> None:
    operator = run_operator()
    cluster.apply(platform("kept", {"deletionPolicy": "Retain"}), namespace=namespace)
    wait_ready(cluster, namespace, "kept", operator)
    created = live_resources(cloud, namespace, "kept")

    cluster.kubectl("delete", "pp", "kept", "-n", namespace, "--wait=true", "--timeout=120s", timeout=150)

    assert get_platform(cluster, namespace, "kept") is None
    assert not [e for e in cloud.journal(namespace, "kept") if e["action"] == "delete"]
    assert live_resources(cloud, namespace, "kept") == created > 20


def test_a_failed_destroy_keeps_the_object_with_the_error_in_status_until_it_succeeds(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView, engine: str
) -> None:
    operator = run_operator()
    breaking = cloud.break_destroy(namespace, "stuck")
    spec = {**DELETABLE, "tags": breaking}
    cluster.apply(platform("stuck", spec), namespace=namespace)
    wait_ready(cluster, namespace, "stuck", operator)

    cluster.kubectl("delete", "pp", "stuck", "-n", namespace, "--wait=false")
    stuck = wait_for(
        lambda: _destroy_failed(get_platform(cluster, namespace, "stuck")),
        "the failed destroy to show in status",
        operator=operator,
    )

    assert stuck["metadata"]["deletionTimestamp"] and stuck["metadata"]["finalizers"]
    message = json.dumps(stuck["status"])
    if engine == "offline":
        assert "destroy failed on purpose" in message
        assert live_resources(cloud, namespace, "stuck") > 20  # nothing was half-deleted and forgotten
    else:  # the real CLI stops at the failing resource: the rest may go, that one stays
        assert "AccessDeniedException" in message and condition(stuck, "Stalled")["reason"] == "AuthFailed"
        assert any(urn.endswith("-cluster") for urn in cloud.live(namespace, "stuck"))

    # Fixing the cause lets the pending delete finish.
    cloud.fix_destroy(namespace, "stuck")
    cluster.kubectl(
        "patch",
        "pp",
        "stuck",
        "-n",
        namespace,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/spec/tags/" + key.replace("/", "~1")} for key in breaking]),
    )
    wait_for(
        lambda: get_platform(cluster, namespace, "stuck") is None,
        "the object to go once destroy works",
        operator=operator,
    )
    assert live_resources(cloud, namespace, "stuck") == 0


def _destroy_failed(obj: dict | None) -> dict | None:
    if not obj or "deletionTimestamp" not in obj["metadata"]:
        return None
    stalled = condition(obj, "Stalled")
    return obj if stalled and stalled["status"] == "True" and "destroy" in stalled["message"] else None

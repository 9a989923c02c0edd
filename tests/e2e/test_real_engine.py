"""Scenarios of the real engine only (the offline engine has no counterpart for them):
a replacement on a force-new field, SIGTERM in the middle of an ``up`` (the CLI gets
SIGINT and releases its lock), a failing AWS call classified by the CLI's real text, and
several platforms converging at once in one operator process.

The engine is the Pulumi CLI built by hack/pulumi-cli.sh, the stand-in AWS provider and
moto as S3 backend and KMS secrets provider (``payplat_dev.realengine``)."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from typing import Any

import pytest

from payplat.model.tenancy import SECRET_CONSENT_ANNOTATION
from payplat_dev.localcluster import LocalCluster

from .support import (
    CloudView,
    RunOperator,
    condition,
    get_platform,
    log_records,
    platform,
    stack_name,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("engine", ["pulumi"], indirect=True)]

WEB = {"name": "web", "image": "docker.io/nginxinc/nginx-unprivileged:1.27.5-alpine", "public": True}
SMALL = {"services": [WEB], "network": {"flowLogs": False}}
TASK = "aws:ecs/taskDefinition:TaskDefinition"


def test_an_image_change_replaces_the_task_definition_and_updates_the_service_in_place(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView
) -> None:
    operator = run_operator()
    cluster.apply(platform("swap", SMALL), namespace=namespace)
    wait_ready(cluster, namespace, "swap", operator)
    before = cloud.journal(namespace, "swap")

    new_image = WEB["image"].replace("1.27.5", "1.27.4")
    cluster.kubectl(
        "patch",
        "pp",
        "swap",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"services": [{**WEB, "image": new_image}]}}),
    )
    after_obj = wait_ready(cluster, namespace, "swap", operator)
    after = cloud.journal(namespace, "swap")[len(before) :]

    tasks = [e for e in after if e["type"] == TASK]
    assert [e["action"] for e in tasks] == ["create", "delete"]  # create-before-delete, as Pulumi replaces
    assert tasks[0]["id"] != tasks[1]["id"] and new_image in json.dumps(tasks[0]["inputs"])
    services = [e for e in after if e["type"] == "aws:ecs/service:Service"]
    assert [e["action"] for e in services] == ["update"]  # pointed at the new revision, not re-created
    assert after_obj["status"]["lastUpdate"]["changes"]["replace"] == 1


def test_sigterm_mid_up_interrupts_the_cli_which_releases_its_lock_and_the_next_run_converges(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView, real_kit: Any
) -> None:
    # The VPC, which nearly everything depends on, takes 6 s: SIGTERM lands while it is the
    # only step in flight, so the cancelled run leaves most of the stack to the next one.
    slow = run_operator(env={"PAYPLAT_STANDIN_SLOW": "ec2/vpc:Vpc:6"})
    cluster.apply(platform("termed", SMALL), namespace=namespace)
    stack = stack_name(namespace, "termed")
    wait_for(
        lambda: any("ec2/vpc:Vpc" in s["urn"] for s in real_kit.cloud.started(stack)),
        "the VPC create to be in flight",
        timeout=180,
        operator=slow,
    )

    os.kill(slow.process.pid, signal.SIGTERM)  # what the kubelet sends the container's PID 1
    slow.process.popen.wait(timeout=120)
    log = slow.process.log_text()

    assert "asked 1 running pulumi process(es) to stop" in log
    assert log.count("^C received; cancelling") == 1  # the CLI got exactly one SIGINT and said so
    state = real_kit.state_objects()
    assert not [key for key in state if "/.pulumi/locks/" in key]  # released, nothing to break
    checkpoint = json.loads(state[f"{real_kit.prefix}/.pulumi/stacks/payplat/{stack}.json"])
    assert not checkpoint["checkpoint"]["latest"].get("pending_operations")  # in-flight steps finished
    interrupted = cloud.journal(namespace, "termed")

    restarted = run_operator(name="operator-restarted")
    wait_ready(cluster, namespace, "termed", restarted)
    entries = cloud.journal(namespace, "termed")
    creates = Counter(e["urn"] for e in entries if e["action"] == "create")
    assert [urn for urn, n in creates.items() if n > 1] == []
    assert entries[: len(interrupted)] == interrupted and len(entries) > len(interrupted)
    assert not any("broke the stale lock" in str(r.get("message")) for r in log_records(restarted))


def test_a_throttled_call_is_retried_and_an_access_denied_one_stalls_until_the_spec_changes(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView, real_kit: Any
) -> None:
    from payplat_dev.standin.cloud import FAIL_TAG

    operator = run_operator()
    throttled = {**SMALL, "tags": {FAIL_TAG: "LogGroup:ThrottlingException:2"}}
    cluster.apply(platform("throttled", throttled), namespace=namespace)
    wait_ready(cluster, namespace, "throttled", operator)
    messages = [str(r.get("message")) for r in log_records(operator)]
    assert sum("api error ThrottlingException: Rate exceeded" in m for m in messages) >= 2
    assert any("Throttled" in m or "throttling" in m for m in messages)

    denied = {**SMALL, "tags": {FAIL_TAG: "ecs/cluster:Cluster:AccessDeniedException"}}
    cluster.apply(platform("denied", denied), namespace=namespace)
    stalled = wait_for(
        lambda: (
            (obj := get_platform(cluster, namespace, "denied"))
            and (condition(obj, "Stalled") or {}).get("status") == "True"
            and obj
        ),
        "the permanent failure to stall",
        operator=operator,
    )
    assert condition(stalled, "Stalled")["reason"] == "AuthFailed"
    assert "AccessDeniedException" in condition(stalled, "Stalled")["message"]
    assert not [urn for urn in cloud.live(namespace, "denied") if "ecs/cluster:Cluster" in urn]

    cluster.kubectl(
        "patch", "pp", "denied", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"tags": {FAIL_TAG: None}}})
    )
    wait_ready(cluster, namespace, "denied", operator)
    creates = Counter(e["urn"] for e in cloud.journal(namespace, "denied") if e["action"] == "create")
    assert [urn for urn, n in creates.items() if n > 1] == []


def test_four_platforms_converge_at_once_in_one_process_each_with_its_own_password(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView, real_kit: Any
) -> None:
    """Concurrent inline programs in one process: the SDK keeps its settings and config in
    contextvars per program; proven here by each stack's secret reaching only its own
    Secrets Manager version while four ups overlap."""
    operator = run_operator(env={"PAYPLAT_MAX_CONCURRENT_OPERATIONS": "4"})
    names = [f"many-{i}" for i in range(4)]
    passwords = {name: f"pw-{name}-{os.urandom(6).hex()}" for name in names}
    docs: list[dict[str, Any]] = []
    for name in names:
        ref = {"name": f"{name}-db", "key": "password"}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": ref["name"],
                    "namespace": namespace,
                    "annotations": {SECRET_CONSENT_ANNOTATION: name},
                },
                "stringData": {"password": passwords[name]},
            }
        )
        docs.append(platform(name, {**SMALL, "database": {"passwordSecretRef": ref}}))
    cluster.apply(docs, namespace=namespace)
    for name in names:
        wait_ready(cluster, namespace, name, operator)

    windows = []
    for name in names:
        stack = stack_name(namespace, name)
        versions = [
            o for o in real_kit.cloud.objects(stack) if o["type"] == "aws:secretsmanager/secretVersion:SecretVersion"
        ]
        text = json.dumps(versions)
        assert passwords[name] in text and not [p for n, p in passwords.items() if n != name and p in text]
        times = sorted(e["time"] for e in cloud.journal(namespace, name))
        windows.append((times[0], times[-1]))
    overlapping = max(sum(1 for s, e in windows if s <= t <= e) for t, _ in windows)
    assert overlapping >= 2  # the ups really ran at the same time

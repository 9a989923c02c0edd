"""Guardrails on a real API server with the offline engine: a PaymentPlatformPolicy's CEL
rule blocks the platform it selects before any engine call (Stalled, PolicyViolation),
leaves another platform alone, yields to a waiver with a reason (shown in status), and
stops blocking once deleted; every Ready platform carries status.cost, which
``kubectl get`` shows as a column; a policy whose CEL does not compile says so in its
own status."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from payplat_dev.localcluster import LocalCluster

from .support import RunOperator, condition, get_platform, journal, platform, wait_for, wait_ready

pytestmark = pytest.mark.e2e

IMAGE = "docker.io/traefik/whoami:v1.10.3"
#: One public service of 1 vCPU: what the policy below forbids.
BIG = [{"name": "api", "image": IMAGE, "public": True, "cpu": 1024, "memory": 2048, "command": ["--port", "8080"]}]
SMALL = [{"name": "api", "image": IMAGE, "public": True, "cpu": 256, "memory": 512, "command": ["--port", "8080"]}]


def cpu_cap(name: str, namespace: str, expression: str = "int(resource.inputs.cpu) <= 512") -> dict[str, Any]:
    """A policy for the test's namespace only (policies are cluster-scoped; tests share the API server)."""
    return {
        "apiVersion": "payplat.io/v1alpha1",
        "kind": "PaymentPlatformPolicy",
        "metadata": {"name": name},
        "spec": {
            "namespaces": [namespace],
            "platformSelector": {"matchLabels": {"payplat.io/e2e": "guardrails"}},
            "rules": [
                {
                    "name": "cpu-cap",
                    "resourceTypes": ["aws:ecs/taskDefinition:TaskDefinition"],
                    "expression": expression,
                    "severity": "critical",
                    "message": "tasks may use at most half a vCPU",
                    "fix": "lower spec.services[].cpu",
                }
            ],
        },
    }


def labelled(name: str, services: list[dict[str, Any]]) -> dict[str, Any]:
    doc = platform(name, {"services": services, "loadBalancer": {"deletionProtection": False}})
    doc["metadata"]["labels"] = {"payplat.io/e2e": "guardrails"}
    return doc


def stalled_by_policy(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get_platform(cluster, namespace, name)
    stalled = condition(obj, "Stalled")
    return obj if stalled and stalled["status"] == "True" and stalled["reason"] == "PolicyViolation" else None


@pytest.fixture
def policy_name(cluster: LocalCluster, namespace: str) -> Any:
    name = f"{namespace}-cpu"
    yield name
    cluster.kubectl("delete", "paymentplatformpolicy", name, "--ignore-not-found", "--wait=false", check=False)


def test_a_cel_policy_blocks_its_platform_only_until_waived_or_deleted(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path, policy_name: str
) -> None:
    cluster.apply(cpu_cap(policy_name, namespace))
    operator = run_operator()
    cluster.apply([labelled("big", BIG), labelled("small", SMALL)], namespace=namespace)

    blocked = wait_for(
        lambda: stalled_by_policy(cluster, namespace, "big"), "big Stalled/PolicyViolation", operator=operator
    )
    small = wait_ready(cluster, namespace, "small", operator)
    message = condition(blocked, "Stalled")["message"]  # type: ignore[index]
    assert re.search(rf"{policy_name}\.cpu-cap on aws:ecs/taskDefinition:TaskDefinition \S*big\S*-api-task", message)
    assert blocked["status"]["phase"] == "Stalled" and blocked["status"]["policy"]["blocked"] is True
    assert blocked["status"]["policy"]["policies"] == [policy_name]
    assert "lastUpdate" not in blocked["status"]
    assert journal(state_dir, namespace, "big") == []  # no engine call: nothing reached the (fake) cloud
    assert small["status"]["policy"]["blocked"] is False and small["status"]["cost"]["monthly"]
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert "PolicyViolation" in events and "UpStarted" not in _events_of(events, "big")

    cluster.kubectl(
        "annotate",
        "paymentplatform",
        "big",
        "-n",
        namespace,
        f"payplat.io/waive-{policy_name}.cpu-cap=settlement batch needs 1 vCPU (CAB-1234)",
    )
    waived = wait_ready(cluster, namespace, "big", operator)
    assert waived["status"]["policy"]["waivers"] == [
        {"rule": f"{policy_name}.cpu-cap", "reason": "settlement batch needs 1 vCPU (CAB-1234)"}
    ]
    assert journal(state_dir, namespace, "big")
    assert "PolicyWaived" in _events_of(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout, "big")

    # Without the waiver, a new generation is blocked again; deleting the policy lets it converge.
    cluster.kubectl("annotate", "paymentplatform", "big", "-n", namespace, f"payplat.io/waive-{policy_name}.cpu-cap-")
    cluster.kubectl(
        "patch",
        "paymentplatform",
        "big",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"services": [{**BIG[0], "memory": 3072}]}}),
    )
    wait_for(
        lambda: (obj := stalled_by_policy(cluster, namespace, "big")) and obj["status"]["observedGeneration"] == 2,
        "big blocked again at generation 2",
        operator=operator,
    )
    cluster.kubectl("delete", "paymentplatformpolicy", policy_name)
    converged = wait_ready(cluster, namespace, "big", operator)
    assert converged["metadata"]["generation"] == 2 and converged["status"]["policy"]["policies"] == []

    columns = cluster.kubectl("get", "pp", "-n", namespace).stdout.splitlines()
    assert columns[0].split()[:4] == ["NAME", "READY", "PHASE", "COST/MO"]
    costs = {line.split()[0]: line.split()[3] for line in columns[1:]}
    assert costs["small"] == small["status"]["cost"]["monthly"] and float(costs["big"]) > float(costs["small"])


def test_a_policy_that_does_not_compile_says_so_and_fails_closed(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path, policy_name: str
) -> None:
    cluster.apply(cpu_cap(policy_name, namespace, expression="int(resource.inputs.cpu <= 512"))
    operator = run_operator()

    def invalid() -> dict[str, Any] | None:
        obj = json.loads(cluster.kubectl("get", "paymentplatformpolicy", policy_name, "-o", "json").stdout)
        ready = condition(obj, "Ready")
        return obj if ready and ready["reason"] == "InvalidPolicy" else None

    obj = wait_for(invalid, "the policy's Ready=False/InvalidPolicy", operator=operator)
    assert obj["status"]["problems"][0].startswith("spec.rules[0].expression: syntax error at line 1")
    cluster.apply(labelled("small", SMALL), namespace=namespace)
    blocked = wait_for(
        lambda: stalled_by_policy(cluster, namespace, "small"), "small blocked by the broken rule", operator=operator
    )
    assert "does not compile" in condition(blocked, "Stalled")["message"]  # type: ignore[index]
    assert journal(state_dir, namespace, "small") == []
    assert operator.process.alive()

    cluster.apply(cpu_cap(policy_name, namespace))  # fixed: accepted, and the platform converges
    wait_for(
        lambda: (
            (
                condition(
                    json.loads(cluster.kubectl("get", "paymentplatformpolicy", policy_name, "-o", "json").stdout),
                    "Ready",
                )
                or {}
            ).get("reason")
            == "Accepted"
        ),
        "the fixed policy Accepted",
        operator=operator,
    )
    wait_ready(cluster, namespace, "small", operator)


def _events_of(events_json: str, name: str) -> str:
    return " ".join(
        f"{e.get('reason')}:{e.get('message')}"
        for e in json.loads(events_json)["items"]
        if e.get("involvedObject", {}).get("name") == name
    )

"""The operator's main loop against a real API server, with kubectl as the client:
apply -> Ready, spec changes, and unchanged specs costing no engine work."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from payplat_dev.localcluster import LocalCluster
from payplat_dev.operatorproc import OperatorProcess
from payplat_dev.testbin import repo_root

from .support import (
    ENGINES,
    CloudView,
    RunOperator,
    condition,
    get_platform,
    journal,
    load_yaml,
    log_records,
    platform,
    stack_name,
    wait_for,
    wait_ready,
)

pytestmark = pytest.mark.e2e

EXAMPLE = (repo_root() or Path.cwd()) / "examples" / "platform.yaml"


def realistic_example(namespace: str) -> tuple[dict, dict, str]:
    """examples/platform.yaml moved into the test's namespace, and the Secret it references."""
    [doc] = [d for d in load_yaml(EXAMPLE) if d["kind"] == "PaymentPlatform"]
    doc["metadata"]["namespace"] = namespace
    ref = doc["spec"]["database"]["passwordSecretRef"]
    password = "e2e-" + base64.b32encode(os.urandom(10)).decode().lower()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": ref["name"],
            "namespace": namespace,
            "annotations": {"payplat.io/allowed-platforms": doc["metadata"]["name"]},
        },
        "stringData": {ref["key"]: password},
    }
    return doc, secret, password


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_the_realistic_example_becomes_ready_with_outputs_printer_columns_and_kubectl_wait(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView, engine: str, real_kit: Any
) -> None:
    doc, secret, password = realistic_example(namespace)
    name = doc["metadata"]["name"]
    operator = run_operator()

    cluster.apply([secret, doc])
    obj = wait_ready(cluster, namespace, name, operator)
    waited = cluster.kubectl(
        "wait", "--for=condition=Ready", f"paymentplatform/{name}", "-n", namespace, "--timeout=30s"
    )

    assert "condition met" in waited.stdout
    status = obj["status"]
    outputs = status["outputs"]
    assert outputs["vpcId"] and outputs["clusterName"] and outputs["albDnsName"]
    assert outputs["albUrl"].startswith("https://")  # the example has a certificate: HTTPS
    assert status["observedGeneration"] == obj["metadata"]["generation"] == 1
    assert status["lastUpdate"]["changes"]["create"] > 20  # the whole stack, created once
    assert condition(obj, "Stalled")["status"] == "False"
    assert condition(obj, "Reconciling")["status"] == "False"
    creates = [e["urn"] for e in cloud.journal(namespace, name) if e["action"] == "create"]
    assert len(creates) == len(set(creates)) > 20  # cloud resources (components aren't in the cloud)
    assert status["lastUpdate"]["changes"]["create"] >= len(creates)

    table = cluster.kubectl("get", "paymentplatforms", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "PHASE", "COST/MO", "ALB", "AGE"]
    assert table[1].split()[:5] == [name, "True", "Ready", status["cost"]["monthly"], outputs["albUrl"]]
    assert status["cost"]["monthly"] == "326.00"  # tests/guardrails/test_cost.py recomputes it from AWS's prices
    wide = cluster.kubectl("get", "paymentplatforms", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "PHASE", "COST/MO", "ALB", "AGE", "MESSAGE"]
    assert wide[1].rstrip().endswith(condition(obj, "Ready")["message"])
    short = cluster.kubectl("get", "pp", name, "-n", namespace, "-o", "name").stdout.strip()
    assert short == f"paymentplatform.payplat.io/{name}"

    everything = cluster.kubectl("get", "pp", name, "-n", namespace, "-o", "json").stdout
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert password not in everything and password not in events
    assert password not in operator.process.log_text()
    assert password not in json.dumps(cloud.journal(namespace, name))
    if engine == "pulumi":
        # The state in S3 holds the password only encrypted by the KMS secrets provider,
        # and the secret really reached "AWS" (the Secrets Manager version) through it.
        state = real_kit.state_objects()
        assert state and not [key for key, body in state.items() if password.encode() in body]
        checkpoint = next(body for key, body in state.items() if key.endswith(f"/{stack_name(namespace, name)}.json"))
        assert b'"secrets_providers"' in checkpoint and b"awskms://" in checkpoint
        versions = [
            o
            for o in real_kit.cloud.objects(stack_name(namespace, name))
            if o["type"] == "aws:secretsmanager/secretVersion:SecretVersion"
        ]
        assert versions and password in json.dumps(versions)


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_spec_change_bumps_the_generation_and_the_operator_follows_it(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView
) -> None:
    operator = run_operator()
    cluster.apply(platform("gen", {"tags": {"team": "a"}}), namespace=namespace)
    first = wait_ready(cluster, namespace, "gen", operator)
    before = cloud.journal(namespace, "gen")

    cluster.kubectl(
        "patch", "pp", "gen", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"tags": {"team": "b"}}})
    )
    second = wait_ready(cluster, namespace, "gen", operator)

    assert first["metadata"]["generation"] == 1
    assert second["metadata"]["generation"] == 2
    assert second["status"]["observedGeneration"] == 2
    assert condition(second, "Ready")["observedGeneration"] == 2
    after = cloud.journal(namespace, "gen")[len(before) :]
    assert after and {e["action"] for e in after} == {"update"}  # re-tagged in place, nothing recreated
    assert all(e["inputs"].get("tags", {}).get("team") == "b" for e in after if "tags" in e["inputs"])
    assert second["status"]["lastUpdate"]["changes"]["update"] == len(after)


RESYNC_SECONDS = 10  # the smallest the operator accepts


def test_resync_and_restart_with_no_spec_change_cost_no_engine_operation(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    fast_resync = {"PAYPLAT_RESYNC_SECONDS": str(RESYNC_SECONDS)}
    operator = run_operator(env=fast_resync)
    cluster.apply(platform("steady"), namespace=namespace)
    ready = wait_ready(cluster, namespace, "steady", operator)
    entries = journal(state_dir, namespace, "steady")
    assert entries  # the first up did create the stack
    ups_before = _operations(operator.metrics_text())

    # A metadata-only change reaches the operator through the watch but bumps no
    # generation; then two resync periods (the watch ends and kopf re-lists everything).
    cluster.kubectl("annotate", "pp", "steady", "-n", namespace, "example.com/touched=1")
    time.sleep(2 * RESYNC_SECONDS + 2)
    ups_after_resync = _operations(operator.metrics_text())
    operator.process.stop()

    restarted = run_operator(env=fast_resync, name="operator-restarted")
    wait_for(lambda: _resumed(restarted, "steady"), "the restarted operator to resume the platform", operator=restarted)

    assert ups_before == ups_after_resync and sum(ups_before.values()) == 1
    assert _operations(restarted.metrics_text()) == {}
    assert journal(state_dir, namespace, "steady") == entries
    now = get_platform(cluster, namespace, "steady")
    assert now["status"]["lastUpdate"] == ready["status"]["lastUpdate"]
    assert now["status"]["observedGeneration"] == 1


def _resumed(operator: OperatorProcess, name: str) -> bool:
    return any(
        r.get("message") == "Handler 'resume' succeeded." and r.get("object", {}).get("name") == name
        for r in log_records(operator)
    )


def _operations(metrics: str) -> dict[str, float]:
    """Engine operations by labels from the /metrics text, non-zero ones only."""
    found = re.findall(r"^payplat_operations_total(\{[^}]*\}) (\S+)$", metrics, re.MULTILINE)
    return {labels: float(value) for labels, value in found if float(value) > 0}

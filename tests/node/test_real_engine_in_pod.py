"""The real engine in a pod: the Pulumi CLI and the Automation API inside the operator's
container (read-only root, UID 10001, only its emptyDirs writable), the stand-in AWS
provider started by that CLI, and moto running as a pod for the S3 state backend and the
KMS secrets provider. Installed with Helm (``engine=pulumi``) as a user would
(tests/node/realengine.py says what is lane-specific)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
import yaml

from payplat.model.identity import stack_name
from payplat_dev.realengine import PULUMI_CLI_VERSION
from tests.node import realengine
from tests.node.cluster import NodeCluster
from tests.node.install import ROOT, condition, wait_for
from tests.node.realengine import NAMESPACE, PREFIX

NAME = "payments"  # examples/minimal.yaml
STACK = stack_name(NAMESPACE, NAME)
CHECKPOINT = f"{PREFIX}/.pulumi/stacks/payplat/{STACK}.json"


@pytest.fixture(scope="module")
def moto_ip(node: NodeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        yield realengine.install(node, tmp_path_factory.mktemp("real"))
    finally:
        realengine.uninstall(node)


def _ready(node: NodeCluster) -> dict | None:  # type: ignore[type-arg]
    obj = realengine.platform(node, NAME)
    ready = condition(obj, "Ready") if obj else None
    return obj if ready and ready.get("status") == "True" else None


def test_the_operator_pod_runs_the_pulumi_engine_hardened(node: NodeCluster, moto_ip: str) -> None:
    pod = realengine.operator_pod(node)
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    # Nothing but the chart's three emptyDirs is writable (the token is mounted read-only).
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp", "/home/payplat/.pulumi", "/var/lib/payplat"}, container["volumeMounts"]
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] is True and status["restartCount"] == 0, status
    settings = node.get_json("configmap", f"{realengine.RELEASE}-operator", "-n", NAMESPACE)["data"]
    assert settings["PAYPLAT_ENGINE"] == "pulumi" and settings["PAYPLAT_BACKEND_URL"].startswith("s3://")
    # The credentials came from the Secret: neither the ConfigMap nor the pod spec has them.
    assert "testing" not in json.dumps(settings) and "AWS_SECRET_ACCESS_KEY" not in json.dumps(container["env"])
    version = node.kubectl(
        "exec", "-n", NAMESPACE, pod["metadata"]["name"], "-c", "operator", "--", "pulumi", "version"
    ).stdout.strip()
    assert version == PULUMI_CLI_VERSION, version  # the CLI hack/pulumi-cli.sh built, as the tests run it


def test_a_platform_goes_ready_through_the_real_engine_in_the_pod_and_its_delete_removes_the_stack(
    node: NodeCluster, moto_ip: str
) -> None:
    # examples/minimal.yaml, set to be destroyed with the resource (the default is Retain,
    # which leaves AWS and the stack untouched, with the load balancer protected).
    doc = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    doc.setdefault("spec", {}).update({"deletionPolicy": "Delete", "loadBalancer": {"deletionProtection": False}})
    node.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump(doc))
    obj = wait_for(f"PaymentPlatform {NAME} Ready through the real engine", lambda: _ready(node), 600, 3)
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    outputs = status["outputs"]
    assert outputs["vpcId"] and outputs["clusterName"] and outputs["albDnsName"], outputs
    assert status["lastUpdate"]["changes"]["create"] > 0, status["lastUpdate"]

    # The CLI in the pod wrote the stack to the S3 backend (moto), secrets under the KMS key.
    state = realengine.state_objects(node, moto_ip)
    assert CHECKPOINT in state, sorted(state)
    checkpoint = json.loads(state[CHECKPOINT])["checkpoint"]
    assert "awskms://alias/" in json.dumps(checkpoint["latest"]["secrets_providers"])
    managed = [r for r in checkpoint["latest"]["resources"] if r["type"].startswith("aws:") and not r.get("external")]
    assert not [k for k in state if "/.pulumi/locks/" in k]  # the up released its lock

    # ...and the provider it started, inside the pod, created each of them exactly once.
    pod = realengine.operator_pod(node)["metadata"]["name"]
    cloud = realengine.standin_cloud(node, pod, STACK)
    creates = Counter(e["urn"] for e in cloud["journal"] if e["action"] == "create")
    assert len(creates) == len(managed) and set(creates.values()) == {1}, creates
    assert len(cloud["live"]) == len(managed)

    # Delete: the finalizer destroys every resource, then removes the stack from the backend.
    node.kubectl("delete", "paymentplatform", NAME, "-n", NAMESPACE, "--wait=false")
    realengine.wait_gone(node, NAME, 420)
    cloud = realengine.standin_cloud(node, pod, STACK)
    assert cloud["live"] == []
    deletes = {e["urn"] for e in cloud["journal"] if e["action"] == "delete"}
    assert deletes == set(creates), set(creates) - deletes
    # Gone from the backend (`pulumi stack ls` would not list it): its checkpoint and any
    # lock. Pulumi's diy backend keeps a `<stack>.json.bak` and `.pulumi/backups/` copies.
    left = realengine.state_objects(node, moto_ip)
    assert CHECKPOINT in state and CHECKPOINT not in left, sorted(left)
    assert not [k for k in left if STACK in k and "/.pulumi/locks/" in k], sorted(left)

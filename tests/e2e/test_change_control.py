"""Change control on the real API server, on both engines: a change waits for a person to
approve its exact plan hash; wrong or stale hashes do nothing; the right one applies
exactly the previewed change; AutoAdditive applies additions and waits for removals; a
protected replacement waits even under Automatic; status.history and the backend's own
history (``pulumi stack history`` for the real engine) name the approver and the hash.

"Nothing applied" is read from what "AWS" holds (the offline fake cloud's journal, or the
stand-in provider's for the real CLI), never from the operator's word."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import payplat
from payplat.controller.changecontrol import APPROVE_ANNOTATION
from payplat.engines import history
from payplat.engines.lockstore import FileBucket
from payplat.model.tenancy import SECRET_CONSENT_ANNOTATION
from payplat.program.stackkeys import PROJECT
from payplat_dev.localcluster import LocalCluster
from payplat_dev.operatorproc import OperatorProcess

from .support import (
    ENGINES,
    CloudView,
    RunOperator,
    condition,
    get_platform,
    platform,
    stack_name,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("engine", ENGINES, indirect=True)]

WEB = {"name": "web", "image": "docker.io/nginxinc/nginx-unprivileged:1.27.5-alpine", "public": True}
API = {"name": "api", "image": "docker.io/traefik/whoami:v1.10.3"}
SMALL = {"services": [WEB], "network": {"flowLogs": False}}
SLOW = 240.0
#: The very code under test, whatever copy of the package the interpreter has installed.
PACKAGE_ROOT = str(
    Path(payplat.__file__).resolve().parents[1]
)  # previews and ups of the real CLI on loaded shared cores


def awaiting(
    cluster: LocalCluster,
    namespace: str,
    name: str,
    operator: OperatorProcess,
    generation: int,
    *,
    unlike: str | None = None,
) -> dict[str, Any]:
    """The platform AwaitingApproval for ``generation`` (with a plan other than ``unlike``)."""

    def probe() -> dict[str, Any] | None:
        obj = get_platform(cluster, namespace, name)
        status = (obj or {}).get("status") or {}
        plan = (status.get("pendingChange") or {}).get("planHash")
        if (
            status.get("phase") == "AwaitingApproval"
            and status.get("observedGeneration") == generation
            and obj["metadata"]["generation"] == generation
            and plan
            and plan != unlike
        ):
            return obj
        return None

    return wait_for(
        probe, f"{namespace}/{name} generation {generation} AwaitingApproval", timeout=SLOW, operator=operator
    )


def ready(cluster: LocalCluster, namespace: str, name: str, operator: OperatorProcess) -> dict[str, Any]:
    return wait_for(
        lambda: _ready(cluster, namespace, name), f"{namespace}/{name} Ready", timeout=SLOW, operator=operator
    )


def _ready(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get_platform(cluster, namespace, name)
    if obj is None:
        return None
    generation = obj["metadata"]["generation"]
    ok = (condition(obj, "Ready") or {}).get("status") == "True" and obj["status"].get(
        "observedGeneration"
    ) == generation
    return obj if ok else None


def approve(cluster: LocalCluster, namespace: str, name: str, value: str) -> None:
    cluster.kubectl("annotate", "pp", name, "-n", namespace, f"{APPROVE_ANNOTATION}={value}", "--overwrite")


def patch(cluster: LocalCluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.kubectl("patch", "pp", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def backend_history(
    engine: str, state_dir: Path, real_kit: Any, namespace: str, name: str, tmp_path: Path
) -> list[dict[str, Any]]:
    """The stack's update history as the state backend keeps it, oldest first: for the
    real engine, what ``pulumi stack history --json`` (the real CLI) prints."""
    stack = stack_name(namespace, name)
    if engine == "offline":
        return history.read(FileBucket(state_dir), PROJECT, stack)
    env = {**os.environ, **real_kit.env(), "PULUMI_BACKEND_URL": real_kit.backend_url}
    project = tmp_path / "history-project"
    project.mkdir(exist_ok=True)
    (project / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
    result = subprocess.run(
        ["pulumi", "stack", "history", "--json", "--stack", f"organization/{PROJECT}/{stack}"],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(reversed(json.loads(result.stdout)))  # newest first; a self-managed backend's versions are all 0


def test_a_manual_change_applies_only_with_the_exact_approved_hash(
    cluster: LocalCluster,
    namespace: str,
    run_operator: RunOperator,
    cloud: CloudView,
    engine: str,
    state_dir: Path,
    real_kit: Any,
    tmp_path: Path,
) -> None:
    password = "cc-" + base64.b32encode(os.urandom(10)).decode().lower()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace, "annotations": {SECRET_CONSENT_ANNOTATION: "gated"}},
        "stringData": {"password": password},
    }
    spec = {**SMALL, "database": {"passwordSecretRef": {"name": "db"}}, "changeControl": {"policy": "Manual"}}
    operator = run_operator()
    cluster.apply([secret, {**platform("gated", spec), "metadata": {"name": "gated", "namespace": namespace}}])

    # Even the first create waits under Manual: the plan is in status and in a ConfigMap.
    first = awaiting(cluster, namespace, "gated", operator, 1)
    pending = first["status"]["pendingChange"]
    plan = pending["planHash"]
    assert condition(first, "Ready")["reason"] == "AwaitingApproval"
    assert f"kubectl annotate pp gated -n {namespace} {APPROVE_ANNOTATION}={plan}" in first["status"]["message"]
    assert pending["changes"]["create"] > 20 and pending["configMap"] == f"gated-plan-{plan}"
    configmap = json.loads(
        cluster.kubectl("get", "configmap", pending["configMap"], "-n", namespace, "-o", "json").stdout
    )
    assert configmap["metadata"]["ownerReferences"][0]["uid"] == first["metadata"]["uid"]
    assert json.loads(configmap["data"]["plan.json"])["planHash"] == plan
    assert f"{APPROVE_ANNOTATION}={plan}" in configmap["data"]["plan.txt"]
    assert cloud.journal(namespace, "gated") == []  # nothing applied

    # A wrong hash is ignored, with a message; nothing applied.
    approve(cluster, namespace, "gated", "0123456789abcdef")
    ignored = wait_for(
        lambda: (
            (o := get_platform(cluster, namespace, "gated"))
            and o["status"].get("lastHandledApproval") == "0123456789abcdef"
            and o
        ),
        "the wrong approval answered",
        timeout=SLOW,
        operator=operator,
    )
    assert ignored["status"]["phase"] == "AwaitingApproval" and ignored["status"]["pendingChange"]["planHash"] == plan
    assert "does not match the pending plan" in ignored["status"]["message"]
    assert cloud.journal(namespace, "gated") == []

    # The right one applies exactly the previewed change.
    approve(cluster, namespace, "gated", plan)
    created = ready(cluster, namespace, "gated", operator)
    creates = [e for e in cloud.journal(namespace, "gated") if e["action"] == "create"]
    assert created["status"]["lastUpdate"]["changes"]["create"] == pending["changes"]["create"]
    assert len(creates) <= pending["changes"]["create"] and not [
        e for e in cloud.journal(namespace, "gated") if e["action"] != "create"
    ]
    entry = created["status"]["history"][-1]
    assert entry["planHash"] == plan and entry["generation"] == 1 and entry["updateId"]
    assert entry["approvedBy"] == {"manager": "kubectl-annotate", "annotation": plan}
    assert "pendingChange" not in created["status"]

    # A spec change: the old approval is stale, the new change waits for its own hash.
    before = len(cloud.journal(namespace, "gated"))
    patch(cluster, namespace, "gated", {"tags": {"team": "payments"}})
    second = awaiting(cluster, namespace, "gated", operator, 2, unlike=plan)
    retag = second["status"]["pendingChange"]
    assert "does not match the pending plan" in second["status"]["message"]  # the gen-1 approval is still there
    assert retag["changes"]["update"] > 0 and not retag["changes"].get("delete") and not retag["replacedOrDeleted"]
    assert len(cloud.journal(namespace, "gated")) == before

    approve(cluster, namespace, "gated", retag["planHash"])
    updated = ready(cluster, namespace, "gated", operator)
    applied = cloud.journal(namespace, "gated")[before:]
    assert applied and {e["action"] for e in applied} == {"update"}
    assert updated["status"]["lastUpdate"]["changes"]["update"] == retag["changes"]["update"]
    assert [(e["generation"], e["approvedBy"]["annotation"]) for e in updated["status"]["history"]] == [
        (1, plan),
        (2, retag["planHash"]),
    ]

    # The backend's own record of each update names the hash and the approver.
    records = backend_history(engine, state_dir, real_kit, namespace, "gated", tmp_path)
    messages = [record["message"] for record in records if record["kind"] == "update"]
    assert messages[-2:] == [
        f"payplat generation=1 plan={plan} approved-by=kubectl-annotate:{plan}",
        (f"payplat generation=2 plan={retag['planHash']} approved-by=kubectl-annotate:{retag['planHash']}"),
    ], records
    # The update id is the update's place in that history (oldest first).
    assert [str(place) for place, r in enumerate(records, 1) if r["kind"] == "update"][-2:] == [
        e["updateId"] for e in updated["status"]["history"]
    ]

    everything = [
        cluster.kubectl("get", "pp", "gated", "-n", namespace, "-o", "json").stdout,
        cluster.kubectl("get", "configmaps", "-n", namespace, "-o", "json").stdout,
        cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
        json.dumps(records),
        operator.process.log_text(),
    ]
    assert not [text for text in everything if password in text]


def test_auto_additive_adds_a_service_at_once_and_waits_to_remove_one(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView
) -> None:
    operator = run_operator()
    spec = {**SMALL, "changeControl": {"policy": "AutoAdditive"}}
    cluster.apply(platform("additive", spec), namespace=namespace)
    ready(cluster, namespace, "additive", operator)

    patch(cluster, namespace, "additive", {"services": [WEB, API]})
    grown = wait_ready(cluster, namespace, "additive", operator)
    assert grown["metadata"]["generation"] == 2 and grown["status"]["history"][-1]["generation"] == 2
    assert "approvedBy" not in grown["status"]["history"][-1]
    added = [e for e in cloud.journal(namespace, "additive") if e["type"] == "aws:ecs/service:Service"]
    assert Counter(e["action"] for e in added)["create"] == 2  # web, then api: applied without approval

    before = len(cloud.journal(namespace, "additive"))
    patch(cluster, namespace, "additive", {"services": [WEB]})
    shrinking = awaiting(cluster, namespace, "additive", operator, 3)
    pending = shrinking["status"]["pendingChange"]
    assert pending["changes"]["delete"] > 0
    assert {step["op"] for step in pending["replacedOrDeleted"]} == {"delete"}
    assert any(step["type"] == "aws:ecs/service:Service" for step in pending["replacedOrDeleted"])
    assert "AutoAdditive" in shrinking["status"]["message"]
    assert len(cloud.journal(namespace, "additive")) == before  # nothing removed

    approve(cluster, namespace, "additive", pending["planHash"])
    shrunk = ready(cluster, namespace, "additive", operator)
    deleted = Counter(e["action"] for e in cloud.journal(namespace, "additive")[before:])
    assert deleted["delete"] > 0 and shrunk["status"]["lastUpdate"]["changes"]["delete"] == pending["changes"]["delete"]


def test_a_protected_replacement_waits_under_automatic(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView
) -> None:
    operator = run_operator()
    cluster.apply(platform("kept", {**SMALL, "environmentSuffix": "kept"}), namespace=namespace)
    ready(cluster, namespace, "kept", operator)
    before = len(cloud.journal(namespace, "kept"))

    # A new suffix renames the database secret and the load balancer: AWS must replace both.
    patch(cluster, namespace, "kept", {"environmentSuffix": "kept2"})
    held = awaiting(cluster, namespace, "kept", operator, 2)
    pending = held["status"]["pendingChange"]
    kinds = {item["kind"]: item for item in pending["protected"]}
    assert {"databaseSecret", "loadBalancer"} <= set(kinds) and kinds["loadBalancer"]["op"] == "replace"
    secret = next(step for step in pending["replacedOrDeleted"] if step["type"] == "aws:secretsmanager/secret:Secret")
    assert secret["op"] == "replace" and "name" in secret["reason"]  # Pulumi's reason: the inputs forcing it
    assert "protected kind(s) databaseSecret, loadBalancer" in held["status"]["message"]
    assert len(cloud.journal(namespace, "kept")) == before

    # `payplat approve` shows the change and approves it under its own field manager.
    approved = subprocess.run(
        [
            sys.executable,
            "-m",
            "payplat.cli",
            "approve",
            "kept",
            "-n",
            namespace,
            "--hash",
            pending["planHash"],
            "--yes",
        ],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PYTHONPATH": PACKAGE_ROOT},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert approved.returncode == 0, approved.stderr
    assert "PROTECTED databaseSecret" in approved.stdout and pending["planHash"] in approved.stdout
    replaced = ready(cluster, namespace, "kept", operator)
    assert replaced["status"]["history"][-1]["approvedBy"] == {
        "manager": "payplat-approve",
        "annotation": pending["planHash"],
    }
    secrets = [e for e in cloud.journal(namespace, "kept")[before:] if e["type"] == "aws:secretsmanager/secret:Secret"]
    assert sorted(e["action"] for e in secrets) == ["create", "delete"]  # replaced: a new secret, the old one gone

"""Two replicas of the operator, each authenticated only as the ServiceAccount from
``manifests/`` (a token the API server issues) with exactly the RBAC ``manifests/``
grants: the Lease holder does all the work, the other stays passive until it is gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from payplat_dev.localcluster import LocalCluster
from payplat_dev.operatorproc import OperatorProcess
from payplat_dev.testbin import repo_root

from .support import journal, log_records, operator_as, platform, wait_for, wait_ready

pytestmark = pytest.mark.e2e

MANIFESTS = (repo_root() or Path.cwd()) / "manifests"
RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def install_rbac(cluster: LocalCluster, namespace: str) -> tuple[str, dict[str, str]]:
    """The ServiceAccount and RBAC of ``kubectl kustomize manifests/`` moved into
    ``namespace`` (cluster-scoped names suffixed so they can't clash); returns the account
    name and the install's ConfigMap settings."""
    built = cluster.kubectl("kustomize", str(MANIFESTS)).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    install_ns = next(d["metadata"]["name"] for d in docs if d["kind"] == "Namespace")
    rbac = [_moved(d, install_ns, namespace) for d in docs if d["kind"] in RBAC_KINDS]
    cluster.apply(rbac)
    [account] = [d["metadata"]["name"] for d in rbac if d["kind"] == "ServiceAccount"]
    [config] = [d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "payplat-operator"]
    return account, dict(config)


def _moved(doc: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    text = json.dumps(doc)
    doc = json.loads(text.replace(f'"namespace": "{old}"', f'"namespace": "{new}"'))
    if doc["kind"].startswith("Cluster"):
        doc["metadata"]["name"] += f"-{new}"
    if doc["kind"] == "ClusterRoleBinding":
        doc["roleRef"]["name"] += f"-{new}"
    return doc


def replica(
    cluster: LocalCluster, namespace: str, account: str, settings: dict[str, str], state_dir: Path, identity: str
) -> OperatorProcess:
    return operator_as(
        cluster,
        namespace,
        account,
        settings,
        state_dir,
        f"{namespace}-{identity}",
        PAYPLAT_IDENTITY=identity,
        PAYPLAT_LEASE_DURATION_SECONDS="5",
        PAYPLAT_BACKOFF_BASE_SECONDS="1",
    )


def lease_holder(cluster: LocalCluster, namespace: str, lease: str) -> str | None:
    got = cluster.kubectl("get", "lease", lease, "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}", check=False)
    return got.stdout.strip() or None if got.returncode == 0 else None


def test_the_lease_holder_works_with_the_manifests_rbac_and_the_second_replica_stays_passive(
    cluster: LocalCluster, namespace: str, state_dir: Path
) -> None:
    account, settings = install_rbac(cluster, namespace)
    lease = settings.get("PAYPLAT_LEASE_NAME", "payplat-operator")
    first = replica(cluster, namespace, account, settings, state_dir, "replica-a")
    second: OperatorProcess | None = None
    try:
        wait_for(
            lambda: lease_holder(cluster, namespace, lease) == "replica-a",
            "replica-a to hold the Lease",
            operator=first,
        )
        second = replica(cluster, namespace, account, settings, state_dir, "replica-b")
        wait_for(lambda: _said(second, "stays passive"), "replica-b to report it is passive", operator=second)

        cluster.apply(platform("ha"), namespace=namespace)
        wait_ready(cluster, namespace, "ha", first)

        assert lease_holder(cluster, namespace, lease) == "replica-a"
        assert second.process.alive()
        assert _handled(first, "ha") and not _handled(second, "ha")
        assert "payplat_operations_total" in first.metrics_text()
        assert _forbidden(first) == [] and _forbidden(second) == []
        entries = len(journal(state_dir, namespace, "ha"))

        # The standby was really standing by: with the holder gone (SIGKILL, no release)
        # it takes the Lease over once it expires and handles the next change.
        first.process.kill()
        cluster.kubectl(
            "patch", "pp", "ha", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"tags": {"owner": "b"}}})
        )
        wait_ready(cluster, namespace, "ha", second)
        assert lease_holder(cluster, namespace, lease) == "replica-b"
        assert _handled(second, "ha") and _forbidden(second) == []
        assert len(journal(state_dir, namespace, "ha")) > entries
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.process.stop()


def test_without_the_manifests_rbac_the_service_account_can_do_nothing(cluster: LocalCluster, namespace: str) -> None:
    """The control for the test above: the token alone grants nothing, so it is the
    RBAC from manifests/ that made the replicas work."""
    cluster.kubectl("create", "serviceaccount", "payplat-operator", "-n", namespace)
    kubeconfig = cluster.kubeconfig_for_token(cluster.create_token(namespace, "payplat-operator"))
    denied = cluster.kubectl("get", "paymentplatforms", "-n", namespace, kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr


def _said(operator: OperatorProcess, text: str) -> bool:
    return any(text in str(r.get("message", "")) for r in log_records(operator))


def _handled(operator: OperatorProcess, name: str) -> bool:
    return any(
        r.get("object", {}).get("name") == name and "Handler" in str(r.get("message", ""))
        for r in log_records(operator)
    )


def _forbidden(operator: OperatorProcess) -> list[dict[str, Any]]:
    return [
        r
        for r in log_records(operator)
        if "forbidden" in json.dumps(r).lower() or "not enough permissions" in json.dumps(r).lower()
    ]

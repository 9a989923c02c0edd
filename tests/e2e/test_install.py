"""The install artefacts on the real API server: the kustomize build and the Helm chart
pass a server-side dry run, apply for real, and the operator started with exactly the
RBAC they grant (its ServiceAccount's token, nothing else) and the settings of their
ConfigMap brings an example PaymentPlatform to Ready.

There is no kubelet here, so the Deployment's pods never run; the operator runs as a
local process in their place, authenticated as their ServiceAccount.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from payplat_dev.localcluster import LocalCluster
from payplat_dev.operatorproc import OperatorProcess, start_operator
from payplat_dev.testbin import find_bin_dir
from tests.ship.rendering import CHART, MANIFESTS, ROOT, by_kind_name, require, run

from .support import admission_refusal, log_records, wait_for, wait_ready

pytestmark = pytest.mark.e2e

EXAMPLE = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
#: Settings that belong to the process, not the install: ports and the state folder.
PROCESS_LOCAL = {"PAYPLAT_METRICS_PORT", "PAYPLAT_LIVENESS_ENDPOINT", "PAYPLAT_STATE_DIR"}


def _apply_dry_run_then_for_real(cluster: LocalCluster, manifest: str) -> None:
    """A server-side dry run validates namespaced objects only in an existing namespace,
    so the Namespace objects go first (for real), then everything dry, then for real."""
    namespaces = [doc for doc in yaml.safe_load_all(manifest) if doc and doc["kind"] == "Namespace"]
    if namespaces:
        cluster.apply(namespaces)
    dry = cluster.kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-", input=manifest)
    assert "(server dry run)" in dry.stdout
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=manifest)


def _operator_as(
    cluster: LocalCluster, namespace: str, account: str, settings: dict[str, str], state_dir: Path
) -> OperatorProcess:
    """``payplat run`` authenticated only by ``account``'s token, with the install's settings."""
    kubeconfig = cluster.kubeconfig_for_token(cluster.create_token(namespace, account), name=account)
    env = {k: v for k, v in settings.items() if k not in PROCESS_LOCAL}
    return start_operator(
        cluster,
        state_dir,
        kubeconfig=kubeconfig,
        name=f"install-{namespace}",
        env={**env, "POD_NAMESPACE": namespace, "PAYPLAT_BACKOFF_BASE_SECONDS": "1"},
    )


def _assert_ready_without_forbidden(cluster: LocalCluster, namespace: str, operator: OperatorProcess) -> None:
    cluster.apply(EXAMPLE, namespace=namespace)
    try:
        wait_ready(cluster, namespace, EXAMPLE["metadata"]["name"], operator)
        waited = cluster.kubectl(
            "wait", "--for=condition=Ready", f"pp/{EXAMPLE['metadata']['name']}", "-n", namespace, "--timeout=30s"
        )
        assert "condition met" in waited.stdout
        problems = [
            r
            for r in log_records(operator)
            if "forbidden" in str(r).lower() or "not enough permissions" in str(r).lower()
        ]
        assert problems == [], problems
    finally:
        operator.process.stop()


@pytest.fixture(autouse=True)
def _no_admission_policy_left_behind(cluster: LocalCluster) -> Iterator[None]:
    """The installs bind the assume-role policy cluster-wide (as they should); later tests
    in this session must not be judged by an install's empty allow-list."""
    yield
    cluster.kubectl(
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        "-l",
        "app.kubernetes.io/part-of=payplat",
        "--ignore-not-found",
    )


def _assert_admission_refuses_roles_not_allowed(cluster: LocalCluster, namespace: str) -> None:
    """The install's own policy and binding, as shipped, with its empty allow-list."""
    foreign = {
        **EXAMPLE,
        "metadata": {"name": "foreign-role"},
        "spec": {**EXAMPLE.get("spec", {}), "assumeRoleArn": "arn:aws:iam::444455556666:role/x"},
    }

    message = wait_for(
        lambda: admission_refusal(cluster, namespace, foreign), "the install's admission policy to be in force"
    )
    assert (
        f"is not allowed for namespace {namespace} (allowed: nothing); a platform administrator adds it to "
        f"ConfigMap {namespace}/payplat-assume-roles"
    ) in message


def _configmap(objects: dict[tuple[str, str, str], dict[str, Any]], namespace: str, name: str) -> dict[str, str]:
    return dict(objects[("ConfigMap", namespace, name)]["data"])


def test_kustomize_install_reaches_ready_with_its_rbac(cluster: LocalCluster, tmp_path: Path) -> None:
    kubectl = require(find_bin_dir() / "kubectl", "pip install -e '.[test]'")
    manifest = run([str(kubectl), "kustomize", str(MANIFESTS)]).stdout
    _apply_dry_run_then_for_real(cluster, manifest)
    objects = by_kind_name(manifest)
    for kind, namespace, name in objects:  # every object exists on the server
        cluster.kubectl("get", kind.lower(), name, *(["-n", namespace] if namespace else []))
    settings = _configmap(objects, "payplat-system", "payplat-operator")
    _assert_admission_refuses_roles_not_allowed(cluster, "payplat-system")
    operator = _operator_as(cluster, "payplat-system", "payplat-operator", settings, tmp_path / "state")
    _assert_ready_without_forbidden(cluster, "payplat-system", operator)


def test_helm_install_reaches_ready_with_the_chart_rbac(cluster: LocalCluster, namespace: str, tmp_path: Path) -> None:
    helm = require(find_bin_dir() / "helm", "run hack/testbin.sh")
    # Cluster-scoped names must not collide with the kustomize install in this cluster.
    release = [
        "payplat",
        str(CHART),
        "--namespace",
        namespace,
        "--set",
        f"fullnameOverride=pp-{namespace}",
        "--kubeconfig",
        str(cluster.kubeconfig),
    ]
    dry = run([str(helm), "install", *release, "--dry-run=server"])
    assert "kubectl get pp -A" in dry.stdout  # NOTES.txt
    run([str(helm), "install", *release])
    manifest = run(
        [str(helm), "get", "manifest", "payplat", "--namespace", namespace, "--kubeconfig", str(cluster.kubeconfig)]
    ).stdout
    objects = by_kind_name(manifest)
    assert ("Role", namespace, f"pp-{namespace}") in objects
    live = cluster.get_json("role", f"pp-{namespace}", namespace=namespace)
    assert live["rules"] == objects[("Role", namespace, f"pp-{namespace}")]["rules"]
    settings = _configmap(objects, namespace, f"pp-{namespace}")
    operator = _operator_as(cluster, namespace, f"pp-{namespace}", settings, tmp_path / "state")
    _assert_ready_without_forbidden(cluster, namespace, operator)


def test_chart_objects_pass_server_side_validation_in_every_variant(cluster: LocalCluster, namespace: str) -> None:
    """helm template output (what Argo CD applies) is accepted by the API server as is."""
    helm = require(find_bin_dir() / "helm", "run hack/testbin.sh")
    for sets in (
        (),
        ("watchScope=cluster", f"secretNamespaces={{{namespace}}}"),
        ("engine=pulumi", "backendUrl=s3://b/p", "secretsProvider=awskms://alias/k"),
    ):
        args = [
            str(helm),
            "template",
            "payplat",
            str(CHART),
            "--namespace",
            namespace,
            "--set",
            f"fullnameOverride=dry-{namespace}",
        ]
        for value in sets:
            args += ["--set", value]
        manifest = run(args).stdout
        result = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=manifest, check=False)
        assert result.returncode == 0, (sets, result.stderr)

"""kustomize and Helm install the same operator: same objects, same RBAC, same hardened
pod, and settings that ``payplat run`` accepts. RBAC holds no wildcard anywhere."""

from __future__ import annotations

import os
from typing import Any

import pytest

from payplat.controller.settings import Settings
from tests.ship.rendering import CHART_VARIANTS, KUSTOMIZE_VARIANTS, NAMESPACE, by_kind_name, documents

#: Every verb any rule may grant: the operator reads, watches and patches; it deletes only
#: the plan ConfigMaps it created (by name with a UID precondition, ``kube.ConfigMapPlans``).
ALLOWED_VERBS = {"get", "list", "watch", "patch", "update", "create", "delete"}
#: What payplat/controller/handlers.py's docstring says the operator calls, resource -> verbs.
USED = {
    "paymentplatforms": {"get", "list", "watch", "patch"},
    "paymentplatforms/status": {"get", "patch"},
    "events": {"create"},
    "secrets": {"get"},
    "leases": {"get", "create", "update"},
    "pods": {"get"},
    "customresourcedefinitions": {"list", "watch"},
    "namespaces": {"list", "watch"},
    "configmaps": {"get", "create", "update", "delete"},
    "paymentplatformpolicies": {"get", "list", "watch"},
    "paymentplatformpolicies/status": {"patch"},
}
#: Kinds whose contents must be the same from kustomize and from the chart.
SHARED_KINDS = (
    "ServiceAccount",
    "ConfigMap",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "Deployment",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
)
CLUSTER_KINDS = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what legitimately differs: metadata (Helm's labels, checksum
    annotation) and label selectors (Helm's add the release instance)."""
    body = {k: v for k, v in obj.items() if k != "metadata"}
    if obj["kind"] == "Deployment":
        template = body["spec"]["template"]
        template["metadata"] = {}
        body["spec"]["selector"] = {}
        for constraint in template["spec"]["topologySpreadConstraints"]:
            constraint["labelSelector"] = {}
    if obj["kind"] == "PodDisruptionBudget":
        body["spec"]["selector"] = {}
    if obj["kind"] == "NetworkPolicy":
        body["spec"]["podSelector"] = {}
    if obj["kind"] in {"RoleBinding", "ClusterRoleBinding"}:
        body["subjects"] = sorted(body["subjects"], key=lambda s: s["name"])
    return body


@pytest.mark.parametrize("variant", ["default", "cluster"])
def test_kustomize_and_chart_install_the_same_operator(
    variant: str, kustomize_renders: dict[str, str], chart_renders: dict[str, str]
) -> None:
    kustomized = {k: v for k, v in by_kind_name(kustomize_renders[variant]).items() if k[0] in SHARED_KINDS}
    # The chart's cluster variant also binds the secret reader in a namespace; kustomize
    # leaves that RoleBinding to the installer (documented in the component).
    charted = {
        k: v
        for k, v in by_kind_name(chart_renders[variant]).items()
        if k[0] in SHARED_KINDS and k[1:] != ("payments", "payplat-secret-reader")
    }
    assert sorted(kustomized) == sorted(charted)
    for key, obj in kustomized.items():
        assert _comparable(obj) == _comparable(charted[key]), key


def test_kustomize_adds_the_namespace_and_the_crd(kustomize_renders: dict[str, str]) -> None:
    kinds = [doc["kind"] for doc in documents(kustomize_renders["default"])]
    assert kinds.count("Namespace") == 1 and kinds.count("CustomResourceDefinition") == 2
    assert all(
        doc["metadata"].get("namespace") == NAMESPACE
        for doc in documents(kustomize_renders["default"])
        if doc["kind"] not in CLUSTER_KINDS
    )
    assert all(
        "namespace" not in doc["metadata"]
        for doc in documents(kustomize_renders["default"])
        if doc["kind"] in CLUSTER_KINDS - {"Namespace"}
    )


def _all_renders(kustomize_renders: dict[str, str], chart_renders: dict[str, str]) -> dict[str, str]:
    return {
        **{f"kustomize/{k}": v for k, v in kustomize_renders.items()},
        **{f"chart/{k}": v for k, v in chart_renders.items()},
    }


def test_rbac_has_no_wildcards_and_only_operator_verbs(
    kustomize_renders: dict[str, str], chart_renders: dict[str, str]
) -> None:
    for source, text in _all_renders(kustomize_renders, chart_renders).items():
        for doc in documents(text):
            if doc["kind"] in {"Role", "ClusterRole"}:
                for rule in doc["rules"]:
                    for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                        assert "*" not in rule.get(field, []), (source, doc["metadata"]["name"], rule)
                    assert set(rule["verbs"]) <= ALLOWED_VERBS, (source, rule)
                    for resource in rule["resources"]:
                        assert set(rule["verbs"]) <= USED[resource], (source, resource, rule["verbs"])
            if doc["kind"] in {"RoleBinding", "ClusterRoleBinding"}:
                assert doc["roleRef"]["name"] not in {"cluster-admin", "admin", "edit"}, source


def test_secrets_are_never_readable_cluster_wide(
    kustomize_renders: dict[str, str], chart_renders: dict[str, str]
) -> None:
    for source, text in _all_renders(kustomize_renders, chart_renders).items():
        objects = by_kind_name(text)
        secret_cluster_roles = {
            name
            for (kind, _, name), doc in objects.items()
            if kind == "ClusterRole" and any("secrets" in rule["resources"] for rule in doc["rules"])
        }
        for (kind, _, _), doc in objects.items():
            if kind == "ClusterRoleBinding":
                assert doc["roleRef"]["name"] not in secret_cluster_roles, source


def test_lease_rule_names_the_configured_lease(
    kustomize_renders: dict[str, str], chart_renders: dict[str, str]
) -> None:
    for source, text in _all_renders(kustomize_renders, chart_renders).items():
        objects = by_kind_name(text)
        lease = objects[("ConfigMap", NAMESPACE, "payplat-operator")]["data"]["PAYPLAT_LEASE_NAME"]
        rules = objects[("Role", NAMESPACE, "payplat-operator-leader")]["rules"]
        named = [rule for rule in rules if "leases" in rule["resources"] and "resourceNames" in rule]
        assert named and all(rule["resourceNames"] == [lease] for rule in named), source


@pytest.mark.parametrize(
    "source", [f"kustomize/{k}" for k in KUSTOMIZE_VARIANTS] + [f"chart/{k}" for k in CHART_VARIANTS]
)
def test_configmap_holds_settings_payplat_run_accepts(
    source: str, kustomize_renders: dict[str, str], chart_renders: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _all_renders(kustomize_renders, chart_renders)[source]
    data = by_kind_name(text)[("ConfigMap", NAMESPACE, "payplat-operator")]["data"]
    fields = {f"PAYPLAT_{name.upper()}" for name in Settings.model_fields}
    assert set(data) <= fields, f"not operator settings: {sorted(set(data) - fields)}"
    monkeypatch.setenv("POD_NAMESPACE", NAMESPACE)
    for key in [k for k in os.environ if k.startswith("PAYPLAT_")]:
        monkeypatch.delenv(key)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    deployment = by_kind_name(text)[("Deployment", NAMESPACE, "payplat-operator")]
    pod = deployment["spec"]["template"]["spec"]
    ports = {p["name"]: p["containerPort"] for p in pod["containers"][0]["ports"]}
    assert ports["metrics"] == settings.metrics_port
    assert settings.liveness_endpoint == f"http://0.0.0.0:{ports['health']}/healthz"
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert str(settings.state_dir) in mounts


@pytest.mark.parametrize("source", ["kustomize/default", "chart/default"])
def test_pod_is_hardened(source: str, kustomize_renders: dict[str, str], chart_renders: dict[str, str]) -> None:
    text = _all_renders(kustomize_renders, chart_renders)[source]
    pod = by_kind_name(text)[("Deployment", NAMESPACE, "payplat-operator")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"requests", "limits"} <= set(container["resources"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "readinessProbe" in container
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]], mount
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PULUMI_HOME"] in {m["mountPath"] for m in container["volumeMounts"]}


def test_configmap_rules_name_the_tenancy_configmaps(
    kustomize_renders: dict[str, str], chart_renders: dict[str, str]
) -> None:
    """The operator may create ConfigMaps in its own namespace (the claims, once) but read
    or change only the two tenancy ones, by name; in the watched namespaces it may create
    plan ConfigMaps and delete (by UID) its own, never read or change a tenant's."""
    for source, text in _all_renders(kustomize_renders, chart_renders).items():
        objects = by_kind_name(text)
        settings = objects[("ConfigMap", NAMESPACE, "payplat-operator")]["data"]
        rules = [
            rule
            for (kind, _, _), doc in objects.items()
            if kind in {"Role", "ClusterRole"}
            for rule in doc["rules"]
            if "configmaps" in rule["resources"]
        ]
        by_verbs = {tuple(sorted(rule["verbs"])): rule.get("resourceNames") for rule in rules}
        assert by_verbs == {
            ("create",): None,
            ("create", "delete"): None,
            ("get", "update"): [settings["PAYPLAT_CLAIMS_CONFIGMAP"]],
            ("get",): [settings["PAYPLAT_ASSUME_ROLE_ALLOWLIST"]],
        }, source
        assert all(
            kind == "Role"
            or all(
                set(rule["verbs"]) <= {"create", "delete"} for rule in doc["rules"] if "configmaps" in rule["resources"]
            )
            for (kind, _, _), doc in objects.items()
            if any("configmaps" in rule["resources"] for rule in doc.get("rules", []))
        ), source


def test_the_admission_policy_reads_the_operators_allow_list(
    kustomize_renders: dict[str, str], chart_renders: dict[str, str]
) -> None:
    for source, text in _all_renders(kustomize_renders, chart_renders).items():
        objects = by_kind_name(text)
        settings = objects[("ConfigMap", NAMESPACE, "payplat-operator")]["data"]
        (binding,) = [doc for (kind, _, _), doc in objects.items() if kind == "ValidatingAdmissionPolicyBinding"]
        assert binding["spec"]["paramRef"] == {
            "name": settings["PAYPLAT_ASSUME_ROLE_ALLOWLIST"],
            "namespace": NAMESPACE,
            "parameterNotFoundAction": "Deny",
        }, source
        assert binding["spec"]["validationActions"] == ["Deny"]
        assert ("ConfigMap", NAMESPACE, settings["PAYPLAT_ASSUME_ROLE_ALLOWLIST"]) in objects, source

"""The Helm chart: lints, renders every variant, and refuses bad values at template time
with the offending key named (values.schema.json)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ship.rendering import CHART, CHART_VARIANTS, NAMESPACE, by_kind_name, run

Render = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("variant", CHART_VARIANTS)
def test_helm_lint_strict_passes(helm: Path, variant: str) -> None:
    sets = [arg for value in CHART_VARIANTS[variant] for arg in ("--set", value)]
    result = run([str(helm), "lint", "--strict", str(CHART), "--namespace", NAMESPACE, *sets])
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (("engine=pulumi",), "/backendUrl"),
        (("engine=pulumi", "backendUrl=s3://b/p"), "/secretsProvider"),
        (("engine=pulumi", "backendUrl=file:///tmp/x", "secretsProvider=awskms://alias/k"), "/backendUrl"),
        (("engine=terraform",), "/engine"),
        (("image.tag=latest",), "/image/tag"),
        (("image.digest=sha256:abc",), "/image/digest"),
        (("maxConcurrentOperations=0",), "/maxConcurrentOperations"),
        (("resyncSeconds=5",), "/resyncSeconds"),
        (("watchScope=everywhere",), "/watchScope"),
        (("watchScope=cluster", "watchNamespaces={a}"), "/watchNamespaces"),
        (("serviceAccount.irsaRoleArn=payplat-operator",), "/serviceAccount/irsaRoleArn"),
        (("metrics.port=80",), "/metrics/port"),
        (("resources.limits.memory=lots",), "/resources/limits/memory"),
        (("replicaCount=0",), "/replicaCount"),
        (("enigne=pulumi",), "'enigne' not allowed"),
        (("extraEnv[0].name=PAYPLAT_ENGINE", "extraEnv[0].value=pulumi"), "/extraEnv/0/name"),
        (("extraEnvFrom[0].secret.name=creds",), "/extraEnvFrom/0"),
    ],
)
def test_bad_values_fail_naming_the_key(render_chart: Render, values: tuple[str, ...], named: str) -> None:
    result = render_chart(*values, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert named in result.stderr


def test_default_install_is_namespaced_only(chart_renders: dict[str, str]) -> None:
    objects = by_kind_name(chart_renders["default"])
    cluster_scoped = {key for key in objects if key[0].startswith("Cluster")}
    assert cluster_scoped == {
        ("ClusterRole", "", "payplat-operator-discovery"),
        ("ClusterRoleBinding", "", "payplat-operator-discovery"),
    }
    discovery = objects[("ClusterRole", "", "payplat-operator-discovery")]["rules"]
    assert all(
        set(rule["verbs"]) <= {"list", "watch"}
        for rule in discovery
        if not rule["resources"][0].startswith("paymentplatformpolicies")
    )
    # The cluster-scoped policies: read, and only their status written.
    assert [(rule["resources"], rule["verbs"]) for rule in discovery if rule["apiGroups"] == ["payplat.io"]] == [
        (["paymentplatformpolicies"], ["get", "list", "watch"]),
        (["paymentplatformpolicies/status"], ["patch"]),
    ]
    assert {key for key in objects if key[0] in {"Role", "RoleBinding"}} == {
        ("Role", NAMESPACE, "payplat-operator"),
        ("RoleBinding", NAMESPACE, "payplat-operator"),
        ("Role", NAMESPACE, "payplat-operator-leader"),
        ("RoleBinding", NAMESPACE, "payplat-operator-leader"),
    }


def test_watch_namespaces_get_a_role_each_and_the_setting(chart_renders: dict[str, str]) -> None:
    objects = by_kind_name(chart_renders["namespaces"])
    roles = {(ns, name) for kind, ns, name in objects if kind == "Role"}
    assert roles == {
        ("payments", "payplat-operator"),
        ("payments-eu", "payplat-operator"),
        (NAMESPACE, "payplat-operator-leader"),
    }
    binding = objects[("RoleBinding", "payments-eu", "payplat-operator")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "payplat-operator", "namespace": NAMESPACE}]
    settings = objects[("ConfigMap", NAMESPACE, "payplat-operator")]["data"]
    assert settings["PAYPLAT_NAMESPACES"] == "payments,payments-eu"
    assert settings["PAYPLAT_CLUSTER_WIDE"] == "false"


def test_cluster_scope_reads_secrets_only_in_listed_namespaces(chart_renders: dict[str, str]) -> None:
    objects = by_kind_name(chart_renders["cluster"])
    cluster_role = objects[("ClusterRole", "", "payplat-operator")]
    assert all("secrets" not in rule["resources"] for rule in cluster_role["rules"])
    secret_bindings = [key for key in objects if key[0] == "RoleBinding" and key[2] == "payplat-secret-reader"]
    assert secret_bindings == [("RoleBinding", "payments", "payplat-secret-reader")]
    assert not [key for key in objects if key[0] == "ClusterRoleBinding" and key[2] == "payplat-secret-reader"]
    assert objects[("ConfigMap", NAMESPACE, "payplat-operator")]["data"]["PAYPLAT_CLUSTER_WIDE"] == "true"


def test_aws_values_reach_the_objects(chart_renders: dict[str, str]) -> None:
    objects = by_kind_name(chart_renders["aws"])
    account = objects[("ServiceAccount", NAMESPACE, "payplat-operator")]
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/payplat-operator"
    }
    settings = objects[("ConfigMap", NAMESPACE, "payplat-operator")]["data"]
    assert settings["PAYPLAT_ENGINE"] == "pulumi"
    assert settings["PAYPLAT_BACKEND_URL"] == "s3://payplat-state/pulumi"
    assert settings["PAYPLAT_SECRETS_PROVIDER"] == "awskms://alias/payplat-pulumi?region=eu-west-1"
    container = objects[("Deployment", NAMESPACE, "payplat-operator")]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/payplat/payment-platform-operator@sha256:" + "a" * 64


def test_image_tag_defaults_to_the_app_version(chart_renders: dict[str, str]) -> None:
    deployment = by_kind_name(chart_renders["default"])[("Deployment", NAMESPACE, "payplat-operator")]
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        == "ghcr.io/payplat/payment-platform-operator:0.1.0"
    )


def test_settings_change_rolls_the_pods(render_chart: Render) -> None:
    def checksum(*sets: str) -> str:
        deployment = by_kind_name(render_chart(*sets).stdout)[("Deployment", NAMESPACE, "payplat-operator")]
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum() != checksum("resyncSeconds=900")


def test_extra_environment_reaches_the_container_after_the_settings(render_chart: Render) -> None:
    """AWS SDK variables (an S3-compatible or VPC endpoint) and a credentials Secret where
    IRSA is not available: the node lane's real engine talks to moto this way."""
    out = render_chart(
        "extraEnv[0].name=AWS_ENDPOINT_URL_S3",
        "extraEnv[0].value=http://10.0.0.9:5000",
        "extraEnvFrom[0].secretRef.name=payplat-aws-credentials",
    ).stdout
    container = by_kind_name(out)[("Deployment", NAMESPACE, "payplat-operator")]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["env"][-1] == {"name": "AWS_ENDPOINT_URL_S3", "value": "http://10.0.0.9:5000"}
    assert container["envFrom"] == [
        {"configMapRef": {"name": "payplat-operator"}},
        {"secretRef": {"name": "payplat-aws-credentials"}},
    ]


def test_extra_egress_rules_are_appended_to_the_network_policy(render_chart: Render) -> None:
    out = render_chart(
        "networkPolicy.extraEgress[0].ports[0].port=5000",
        "networkPolicy.extraEgress[0].to[0].podSelector.matchLabels.app=moto",
    ).stdout
    egress = by_kind_name(out)[("NetworkPolicy", NAMESPACE, "payplat-operator")]["spec"]["egress"]
    assert len(egress) == 3
    assert egress[-1] == {"to": [{"podSelector": {"matchLabels": {"app": "moto"}}}], "ports": [{"port": 5000}]}

"""Many teams, one operator, on the real API server: no platform touches another's stack,
AWS names, roles or Secrets.

One operator watches several namespaces. The pairs that broke 0.1 (``a-b/c`` vs
``a/b-c``, ``t1/dev`` vs ``t2/dev``, a second claim of an explicit suffix) either converge
with disjoint stacks and AWS names or the later one is refused naming the owner, and the
refusal survives an operator restart; deleting one leaves the other intact. A role outside
the namespace's allow-list is refused at admission by the shipped
ValidatingAdmissionPolicy and, when admission is bypassed, by the operator; a Secret
without consent is never read.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from payplat.engines.fakecloud import FakeCloud
from payplat.model.identity import stack_name
from payplat_dev.localcluster import LocalCluster

from .support import RunOperator, admission_refusal, condition, get_platform, platform, wait_for, wait_ready

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ROLE_OK = "arn:aws:iam::111122223333:role/payplat-team"
ROLE_OTHER = "arn:aws:iam::444455556666:role/payplat-other-team"
DELETABLE = {"deletionPolicy": "Delete", "loadBalancer": {"deletionProtection": False}}
#: One small service keeps each offline up quick.
SMALL = {
    "services": [
        {"name": "web", "image": "docker.io/nginxinc/nginx-unprivileged:1.27.5-alpine", "public": True, "user": "101"}
    ],
    "network": {"flowLogs": False},
}


#: Resource types whose names are unique in an account and region (others, like an ECS
#: service or a role's inline policy, are named inside their own parent).
ACCOUNT_WIDE = {
    "aws:ecs/cluster:Cluster": "name",
    "aws:lb/loadBalancer:LoadBalancer": "name",
    "aws:lb/targetGroup:TargetGroup": "name",
    "aws:iam/role:Role": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:kms/alias:Alias": "name",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:ecs/taskDefinition:TaskDefinition": "family",
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": "name",
}


def _names(state_dir: Path, namespace: str, name: str) -> set[str]:
    """The account- and region-wide AWS names the platform's fake cloud holds."""
    objects = FakeCloud(state_dir, stack_name(namespace, name)).objects().values()
    return {f"{o.type}:{o.inputs[ACCOUNT_WIDE[o.type]]}" for o in objects if o.type in ACCOUNT_WIDE}


def _refused(cluster: LocalCluster, namespace: str, name: str, reason: str) -> dict[str, Any] | None:
    obj = get_platform(cluster, namespace, name)
    ready = condition(obj, "Ready")
    return obj if ready and ready.get("reason") == reason else None


def test_teams_in_many_namespaces_never_share_a_stack_or_a_name(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    other = f"{namespace}-x"  # "<namespace>-x/c" and "<namespace>/x-c": one 0.1 stack, "<namespace>-x-c"
    cluster.kubectl("create", "namespace", other)
    operator = run_operator(watch=f"{namespace},{other}")

    pairs = [(other, "c"), (namespace, "x-c"), (namespace, "dev"), (other, "dev")]
    for ns, name in pairs:
        cluster.apply(platform(name, {**SMALL, **DELETABLE}), namespace=ns)
    for ns, name in pairs:
        wait_ready(cluster, ns, name, operator)
    stacks = {stack_name(ns, name) for ns, name in pairs}
    assert len(stacks) == 4
    names = {pair: _names(state_dir, *pair) for pair in pairs}
    for pair in pairs:
        assert len(names[pair]) > 5
        for another in pairs:
            if another != pair:
                assert not names[pair] & names[another], (pair, another, names[pair] & names[another])

    # A second claim of an explicit suffix is refused, naming the owner, before any engine call.
    suffix = f"s{namespace[-8:]}"
    cluster.apply(platform("first", {**SMALL, "environmentSuffix": suffix}), namespace=namespace)
    wait_ready(cluster, namespace, "first", operator)
    cluster.apply(platform("second", {**SMALL, "environmentSuffix": suffix}), namespace=other)
    refused = wait_for(
        lambda: _refused(cluster, other, "second", "EnvironmentSuffixInUse"),
        "the second claim of the suffix to be refused",
        operator=operator,
    )
    assert f'spec.environmentSuffix "{suffix}" is used by {namespace}/first' in refused["status"]["message"]
    assert FakeCloud(state_dir, stack_name(other, "second")).entries() == []
    claims = cluster.get_json("configmap", "payplat-environment-claims", namespace=namespace)["data"]
    assert claims[f"operator.us-east-1.{suffix}"] == f"{namespace}/first"

    # The claim survives a restart: a new operator still refuses (and never runs an engine).
    operator.process.kill()
    cluster.kubectl("annotate", "pp", "second", "-n", other, "payplat.io/poke=1")
    cluster.kubectl(
        "patch", "pp", "second", "-n", other, "--type=merge", "-p", json.dumps({"spec": {"tags": {"x": "y"}}})
    )
    restarted = run_operator(watch=f"{namespace},{other}", name="restarted")
    wait_for(
        lambda: (
            (obj := _refused(cluster, other, "second", "EnvironmentSuffixInUse"))
            and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
        ),
        "the restarted operator to refuse the claim again",
        operator=restarted,
    )
    assert FakeCloud(state_dir, stack_name(other, "second")).entries() == []

    # Deleting one of the old colliding pair leaves the other's state and resources alone.
    kept = FakeCloud(state_dir, stack_name(other, "c")).objects()
    cluster.kubectl("delete", "pp", "x-c", "-n", namespace, "--wait=true", "--timeout=120s", timeout=150)
    assert FakeCloud(state_dir, stack_name(namespace, "x-c")).objects() == {}
    assert FakeCloud(state_dir, stack_name(other, "c")).objects() == kept
    assert (state_dir / ".pulumi" / "stacks" / "payplat" / f"{stack_name(other, 'c')}.json").exists()


def test_roles_and_secrets_need_the_administrators_and_the_owners_consent(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    operator = run_operator()
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "payplat-assume-roles"},
            "data": {namespace: ROLE_OK},
        },
        namespace=namespace,
    )

    # Admission bypassed (no policy bound here): the operator refuses the role itself.
    cluster.apply(platform("foreign", {**SMALL, "assumeRoleArn": ROLE_OTHER}), namespace=namespace)
    refused = wait_for(
        lambda: _refused(cluster, namespace, "foreign", "RoleNotAllowed"),
        "the foreign role to be refused",
        operator=operator,
    )
    assert f"spec.assumeRoleArn: {ROLE_OTHER} is not allowed for namespace {namespace}" in refused["status"]["message"]
    assert FakeCloud(state_dir, stack_name(namespace, "foreign")).entries() == []

    # A Secret that does not name the platform is never read; consent lets it through.
    password = "a-long-enough-password-42"
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "data": {"password": base64.b64encode(password.encode()).decode()},
        },
        namespace=namespace,
    )
    cluster.apply(platform("shop", {**SMALL, "database": {"passwordSecretRef": {"name": "db"}}}), namespace=namespace)
    waiting = wait_for(
        lambda: _refused(cluster, namespace, "shop", "SecretConsentMissing"),
        "the Secret without consent to be refused",
        operator=operator,
    )
    assert f"Secret {namespace}/db does not consent to {namespace}/shop" in waiting["status"]["message"]
    cluster.kubectl("annotate", "secret", "db", "-n", namespace, "payplat.io/allowed-platforms=shop")
    obj = wait_ready(cluster, namespace, "shop", operator)
    assert password not in json.dumps(obj)


def test_the_shipped_admission_policy_refuses_a_foreign_role(cluster: LocalCluster, namespace: str) -> None:
    """manifests/admission's policy, bound to this namespace only (a cluster-wide binding
    would judge every other test's platforms too) with this namespace's allow-list."""
    policy, binding = [
        doc
        for doc in yaml.safe_load_all((ROOT / "manifests" / "admission" / "assume-roles-policy.yaml").read_text())
        if doc
    ]
    name = f"payplat-e2e-{namespace}"
    policy["metadata"]["name"] = name
    binding["metadata"]["name"] = name
    binding["spec"]["policyName"] = name
    binding["spec"]["paramRef"]["namespace"] = namespace
    binding["spec"]["matchResources"] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "payplat-assume-roles"},
            "data": {namespace: f"{ROLE_OK}, 999988887777"},
        },
        namespace=namespace,
    )
    cluster.apply([policy, binding])
    try:
        foreign = platform("foreign", {"assumeRoleArn": ROLE_OTHER})
        message = wait_for(
            lambda: admission_refusal(cluster, namespace, foreign), "the policy to be in force"
        )  # policies load asynchronously
        assert f"spec.assumeRoleArn: {ROLE_OTHER} is not allowed for namespace {namespace}" in message
        assert f"{ROLE_OK}, 999988887777" in message and f"ConfigMap {namespace}/payplat-assume-roles" in message
        for allowed in (ROLE_OK, "arn:aws:iam::999988887777:role/any"):
            cluster.apply(platform("allowed", {"assumeRoleArn": allowed}), namespace=namespace)
        cluster.apply(platform("no-role"), namespace=namespace)
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding", name, "--ignore-not-found")
        cluster.kubectl("delete", "validatingadmissionpolicy", name, "--ignore-not-found")

"""The built-in pack: the examples plan clean of the seed invariants, and each rule
fires on a plan broken in exactly the way it guards against (checked by mutating one
resource of the example's real plan)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from payplat.guardrails.builtin import RULES, evaluate_builtin
from payplat.guardrails.findings import Severity
from payplat.program.manifest import Manifest
from payplat.program.plan import Plan, PlannedResource

Mutation = Callable[[dict[str, Any]], None]


def test_the_example_plans_without_a_finding(example: tuple[Manifest, Plan]) -> None:
    assert evaluate_builtin(example[1].resources) == []


def test_the_minimal_example_reports_http_and_missing_access_logs(minimal: tuple[Manifest, Plan]) -> None:
    found = {(f.rule, f.severity, f.check) for f in evaluate_builtin(minimal[1].resources)}
    assert found == {("alb-https", Severity.MEDIUM, "CKV2_AWS_20"), ("alb-access-logs", Severity.LOW, "CKV_AWS_91")}


def test_rule_ids_are_unique_and_fit_a_waiver_annotation() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids)) and all(len(f"payplat.io/waive-{i}".split("/")[1]) <= 63 for i in ids)


def _containers(mutate: Callable[[dict[str, Any]], None]) -> Mutation:
    def change(inputs: dict[str, Any]) -> None:
        containers = json.loads(inputs["containerDefinitions"])
        mutate(containers[0])
        inputs["containerDefinitions"] = json.dumps(containers)

    return change


def _policy(mutate: Callable[[dict[str, Any]], None]) -> Mutation:
    def change(inputs: dict[str, Any]) -> None:
        document = json.loads(inputs["policy"])
        mutate(document["Statement"][0])
        inputs["policy"] = json.dumps(document)

    return change


def _set(key: str, value: Any) -> Mutation:
    return lambda inputs: inputs.__setitem__(key, value)


def _drop(key: str) -> Mutation:
    return lambda inputs: inputs.pop(key, None)


TASK = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
CASES: list[tuple[str, str, str | None, Mutation, str]] = [
    # rule, resource type, resource name contains, mutation, expected field (prefix)
    (
        "plain-credentials",
        TASK,
        "fraud",
        _containers(
            lambda c: c["environment"].append(
                {"name": "DATABASE_URL", "value": "postgres://app:hunter2@db.internal:5432/payments"}
            )
        ),
        "containerDefinitions[0].environment[1].value",
    ),
    (
        "plain-credentials",
        TASK,
        "fraud",
        _containers(lambda c: c["environment"].append({"name": "STRIPE", "value": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"})),
        "containerDefinitions[0].environment[1].value",
    ),
    (
        "plain-credentials",
        TASK,
        "fraud",
        _containers(lambda c: c["environment"].append({"name": "AWS_KEY", "value": "AKIAIOSFODNN7EXAMPLE"})),
        "containerDefinitions[0].environment[1].value",
    ),
    (
        "plain-credentials",
        TASK,
        "fraud",
        _containers(lambda c: c["environment"].append({"name": "DB_PASSWORD", "value": "x"})),
        "containerDefinitions[0].environment[1].name",
    ),
    (
        "secret-reference",
        TASK,
        "fraud",
        _containers(lambda c: c["secrets"][0].update(valueFrom=c["secrets"][0]["valueFrom"].removesuffix("::"))),
        "containerDefinitions[0].secrets[0].valueFrom",
    ),
    (
        "secret-reference",
        TASK,
        "fraud",
        _containers(
            lambda c: c["secrets"][0].update(
                valueFrom="arn:aws:secretsmanager:eu-west-1:123456789012:secret:other/team-AbCdEf:password::"
            )
        ),
        "containerDefinitions[0].secrets[0].valueFrom",
    ),
    (
        "pinned-image",
        TASK,
        "fraud",
        _containers(lambda c: c.update(image="docker.io/traefik/whoami")),
        "containerDefinitions[0].image",
    ),
    (
        "pinned-image",
        TASK,
        "fraud",
        _containers(lambda c: c.update(image="busybox:latest")),
        "containerDefinitions[0].image",
    ),
    (
        "readonly-root-filesystem",
        TASK,
        "fraud",
        _containers(lambda c: c.update(readonlyRootFilesystem=False)),
        "containerDefinitions[0].readonlyRootFilesystem",
    ),
    ("non-root-unprivileged", TASK, "fraud", _containers(lambda c: c.update(user="0")), "containerDefinitions[0].user"),
    (
        "non-root-unprivileged",
        TASK,
        "fraud",
        _containers(lambda c: c.update(privileged=True)),
        "containerDefinitions[0].privileged",
    ),
    (
        "separate-task-roles",
        TASK,
        "fraud",
        lambda i: i.__setitem__("taskRoleArn", i["executionRoleArn"]),
        "taskRoleArn",
    ),
    (
        "tasks-private",
        SERVICE,
        "fraud",
        lambda i: i["networkConfiguration"].__setitem__("assignPublicIp", True),
        "networkConfiguration.assignPublicIp",
    ),
    ("ecs-exec-off", SERVICE, "fraud", _set("enableExecuteCommand", True), "enableExecuteCommand"),
    ("log-group-encrypted", "aws:cloudwatch/logGroup:LogGroup", "flow", _drop("kmsKeyId"), "kmsKeyId"),
    ("log-retention", "aws:cloudwatch/logGroup:LogGroup", "flow", _set("retentionInDays", 30), "retentionInDays"),
    ("log-retention", "aws:cloudwatch/logGroup:LogGroup", "flow", _drop("retentionInDays"), "retentionInDays"),
    ("kms-rotation", "aws:kms/key:Key", None, _set("enableKeyRotation", False), "enableKeyRotation"),
    (
        "kms-serves-logs",
        "aws:kms/key:Key",
        None,
        lambda i: i.__setitem__(
            "policy",
            json.dumps(
                {
                    "Statement": [
                        s for s in json.loads(i["policy"])["Statement"] if "Service" not in str(s.get("Principal"))
                    ]
                }
            ),
        ),
        "policy",
    ),
    ("secret-cmk", "aws:secretsmanager/secret:Secret", None, _drop("kmsKeyId"), "kmsKeyId"),
    (
        "execution-secret-scope",
        "aws:iam/rolePolicy:RolePolicy",
        "execution-secret",
        _policy(lambda s: s.update(Resource=["arn:aws:secretsmanager:eu-west-1:123456789012:secret:*"])),
        "policy.Statement[0].Resource",
    ),
    (
        "iam-no-wildcard-actions",
        "aws:iam/rolePolicy:RolePolicy",
        "execution-secret",
        _policy(lambda s: s.update(Action=["secretsmanager:*"])),
        "policy.Statement[0].Action",
    ),
    (
        "cloudmap-a-records",
        "aws:servicediscovery/service:Service",
        "fraud",
        lambda i: i["dnsConfig"]["dnsRecords"][0].__setitem__("ttl", 60),
        "dnsConfig",
    ),
    (
        "scaling-target-tracking",
        "aws:appautoscaling/policy:Policy",
        "fraud-detector-scale-cpu",
        _set("policyType", "StepScaling"),
        "policyType",
    ),
    (
        "sg-rule-description",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "fraud",
        _drop("description"),
        "description",
    ),
    (
        "alb-tls-policy",
        "aws:lb/listener:Listener",
        "https",
        _set("sslPolicy", "ELBSecurityPolicy-2016-08"),
        "sslPolicy",
    ),
    (
        "alb-https",
        "aws:lb/listener:Listener",
        "redirect",
        _set("defaultActions", [{"type": "fixed-response", "fixedResponse": {"statusCode": "200"}}]),
        "protocol",
    ),
    (
        "alb-drop-invalid-headers",
        "aws:lb/loadBalancer:LoadBalancer",
        None,
        _set("dropInvalidHeaderFields", False),
        "dropInvalidHeaderFields",
    ),
    (
        "alb-deletion-protection",
        "aws:lb/loadBalancer:LoadBalancer",
        None,
        _set("enableDeletionProtection", False),
        "enableDeletionProtection",
    ),
    ("alb-access-logs", "aws:lb/loadBalancer:LoadBalancer", None, _drop("accessLogs"), "accessLogs"),
    ("ecs-container-insights", "aws:ecs/cluster:Cluster", None, _set("settings", []), "settings"),
    (
        "default-sg-closed",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        None,
        _set("ingress", [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]),
        "ingress",
    ),
    ("private-egress-via-nat", "aws:ec2/eip:Eip", "nat-eip-0", _set("domain", "standard"), "domain"),
    ("explicit-egress", "aws:ec2/securityGroup:SecurityGroup", "alb-sg", _set("egress", []), "egress"),
]


def _mutated(plan: Plan, type_: str, name_part: str | None, mutation: Mutation) -> tuple[list[PlannedResource], str]:
    target = next(r for r in plan.resources if r.type == type_ and (name_part is None or name_part in r.name))
    inputs = json.loads(json.dumps(target.inputs))
    mutation(inputs)
    changed = replace(target, inputs=inputs)
    return [changed if r is target else r for r in plan.resources], f"{target.type} {target.name}"


@pytest.mark.parametrize(
    ("rule", "type_", "name_part", "mutation", "field"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_each_rule_finds_what_it_guards_against(
    example: tuple[Manifest, Plan], rule: str, type_: str, name_part: str | None, mutation: Mutation, field: str
) -> None:
    resources, label = _mutated(example[1], type_, name_part, mutation)
    found = [f for f in evaluate_builtin(resources) if f.rule == rule]
    assert [(f.resource, f.field) for f in found] == [(label, field)], found
    assert found[0].message and found[0].fix
    assert found[0].severity is next(r.severity for r in RULES if r.id == rule)


def test_every_rule_is_exercised_by_a_case() -> None:
    structural = {"component-outputs", "secret-version-first", "vpc-flow-logs"}  # below, by removal
    assert {rule.id for rule in RULES} - structural <= {case[0] for case in CASES} | {"tasks-private"}


def test_structural_rules_fire_when_a_piece_is_missing(example: tuple[Manifest, Plan]) -> None:
    resources = example[1].resources
    without_flow_logs = [r for r in resources if r.type != "aws:ec2/flowLog:FlowLog"]
    assert {f.rule for f in evaluate_builtin(without_flow_logs)} == {"vpc-flow-logs"}
    component = next(r for r in resources if r.type == "payplat:index:Network")
    silent = [replace(r, registered_outputs=None) if r is component else r for r in resources]
    assert [(f.rule, f.resource) for f in evaluate_builtin(silent)] == [
        ("component-outputs", f"{component.type} {component.name}")
    ]
    unordered = [replace(r, depends_on=[]) if r.type == SERVICE and "fraud" in r.name else r for r in resources]
    assert [f.rule for f in evaluate_builtin(unordered)] == ["secret-version-first"]
    fighting = [replace(r, ignore_changes=()) if r.type == SERVICE and "fraud" in r.name else r for r in resources]
    assert [(f.rule, f.field) for f in evaluate_builtin(fighting)] == [("scaling-target-tracking", "ignoreChanges")]
    no_nat_route = [r for r in resources if not (r.type == "aws:ec2/route:Route" and r.inputs.get("natGatewayId"))]
    assert {f.rule for f in evaluate_builtin(no_nat_route)} == {"private-egress-via-nat"}
    public_subnet = next(r.id for r in resources if r.type == "aws:ec2/subnet:Subnet" and "public" in r.name)
    moved = [
        replace(
            r,
            inputs={
                **r.inputs,
                "networkConfiguration": {**r.inputs["networkConfiguration"], "subnets": [public_subnet]},
            },
        )
        if r.type == SERVICE and "fraud" in r.name
        else r
        for r in resources
    ]
    assert [(f.rule, f.field) for f in evaluate_builtin(moved)] == [("tasks-private", "networkConfiguration.subnets")]


def test_the_readme_lists_every_rule_with_its_severity_and_check() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for rule in RULES:
        assert f"| `{rule.id}` | {rule.severity.value} | " in readme and readme.split(f"| `{rule.id}` |")[1].split(
            "\n"
        )[0].rstrip().endswith(f"| {rule.check or ''} |".rstrip()), rule.id

"""PaymentPlatformPolicy objects: parsed without raising, selecting platforms, their CEL
rules turned into findings, failing closed on a broken rule unless told to ignore it."""

from __future__ import annotations

from typing import Any

from payplat.guardrails.findings import Severity
from payplat.guardrails.orgpolicy import PlatformRef, evaluate_org_policies, parse_policy
from payplat.program.manifest import Manifest
from payplat.program.plan import Plan

PROD = PlatformRef(name="payments-prod", namespace="payments", labels={"tier": "prod"}, region="eu-west-1")
DEV = PlatformRef(name="sandbox", namespace="dev", labels={"tier": "dev"}, region="eu-west-1")
CPU_CAP = {
    "name": "cpu-cap",
    "resourceTypes": ["aws:ecs/taskDefinition:TaskDefinition"],
    "expression": "int(resource.inputs.cpu) <= 512",
    "severity": "critical",
    "message": "tasks may use at most half a vCPU",
    "fix": "lower spec.services[].cpu",
}


def policy(name: str = "org", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "payplat.io/v1alpha1",
        "kind": "PaymentPlatformPolicy",
        "metadata": {"name": name, "generation": 3},
        "spec": {"rules": [CPU_CAP], **spec},
    }


def test_a_rule_finds_each_violating_resource(example: tuple[Manifest, Plan]) -> None:
    parsed = parse_policy(policy())
    assert parsed.problems == () and parsed.generation == 3
    found = evaluate_org_policies([parsed], example[1].resources, PROD)
    task = next(r for r in example[1].resources if r.name.endswith("payment-processor-task"))  # the 1-vCPU one
    assert [(f.rule, f.severity, f.resource, f.source) for f in found] == [
        ("org.cpu-cap", Severity.CRITICAL, f"{task.type} {task.name}", "PaymentPlatformPolicy/org")
    ]
    assert found[0].message == CPU_CAP["message"] and found[0].fix == CPU_CAP["fix"]


def test_selectors_choose_the_platforms() -> None:
    by_label = parse_policy(policy(platformSelector={"matchLabels": {"tier": "prod"}}))
    assert by_label.selects(PROD) and not by_label.selects(DEV)
    by_expression = parse_policy(
        policy(platformSelector={"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["prod"]}]})
    )
    assert by_expression.selects(DEV) and not by_expression.selects(PROD)
    exists = parse_policy(policy(platformSelector={"matchExpressions": [{"key": "team", "operator": "Exists"}]}))
    assert not exists.selects(PROD)
    by_namespace = parse_policy(policy(namespaces=["dev"]))
    assert by_namespace.selects(DEV) and not by_namespace.selects(PROD)
    assert parse_policy(policy()).selects(PROD) and parse_policy(policy()).selects(DEV)


def test_a_rule_that_does_not_compile_is_reported_and_fails_closed(example: tuple[Manifest, Plan]) -> None:
    broken = {**CPU_CAP, "expression": "int(resource.inputs.cpu <= 512"}
    parsed = parse_policy(policy(rules=[broken]))
    assert parsed.problems and parsed.problems[0].startswith("spec.rules[0].expression: syntax error")
    found = evaluate_org_policies([parsed], example[1].resources, PROD)
    assert [(f.rule, f.severity, f.resource) for f in found] == [("org.cpu-cap", Severity.CRITICAL, "platform")]
    assert "does not compile" in found[0].message
    ignored = parse_policy(policy(rules=[broken], failurePolicy="Ignore"))
    assert evaluate_org_policies([ignored], example[1].resources, PROD) == []


def test_evaluation_errors_fail_closed_unless_ignored(example: tuple[Manifest, Plan]) -> None:
    erroring = {**CPU_CAP, "resourceTypes": ["aws:kms/key:Key"], "expression": "resource.inputs.nope == 1"}
    found = evaluate_org_policies([parse_policy(policy(rules=[erroring]))], example[1].resources, PROD)
    assert len(found) == 1 and "could not be evaluated" in found[0].message
    assert (
        evaluate_org_policies(
            [parse_policy(policy(rules=[erroring], failurePolicy="Ignore"))], example[1].resources, PROD
        )
        == []
    )


def test_an_invalid_object_is_problems_not_an_exception(example: tuple[Manifest, Plan]) -> None:
    parsed = parse_policy({"metadata": {"name": "bad"}, "spec": {"rules": [{"name": "Bad Name", "severity": "fatal"}]}})
    assert parsed.spec is None
    text = "\n".join(parsed.problems)
    assert "spec.rules.0.name" in text and "spec.rules.0.severity" in text and "spec.rules.0.expression" in text
    found = evaluate_org_policies([parsed], example[1].resources, PROD)
    assert [(f.rule, f.severity) for f in found] == [("bad.invalid", Severity.CRITICAL)]
    twice = parse_policy(policy(rules=[CPU_CAP, CPU_CAP]))
    assert any("used twice" in problem for problem in twice.problems)


def test_non_waivable_rules_name_their_source() -> None:
    parsed = parse_policy(policy(rules=[{**CPU_CAP, "waivable": False}], nonWaivable=["plain-credentials"]))
    assert parsed.non_waivable() == {
        "org.cpu-cap": "PaymentPlatformPolicy/org",
        "plain-credentials": "PaymentPlatformPolicy/org",
    }


def test_the_whole_review_is_bounded(example: tuple[Manifest, Plan]) -> None:
    """Every resource, a rule near the per-evaluation limit: the review's total budget
    runs out and the rest are findings, not minutes of CPU."""
    ten = "[0,1,2,3,4,5,6,7,8,9]"
    heavy = {**CPU_CAP, "resourceTypes": [], "expression": f"{ten}.all(a, {ten}.all(b, {ten}.all(c, a+b+c >= 0)))"}
    found = evaluate_org_policies([parse_policy(policy(rules=[heavy]))], example[1].resources, PROD)
    assert found and all("cost limit" in f.message for f in found)
    assert any("total CEL cost limit" in f.message for f in found)

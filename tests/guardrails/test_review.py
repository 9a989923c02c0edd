"""The review: built-in and organisation findings, waivers (with a reason, unless
non-waivable), the budget, and what blocks."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from payplat.guardrails import Review, Severity, parse_policy, review
from payplat.guardrails.findings import waivers_from_annotations
from payplat.program.manifest import Manifest
from payplat.program.plan import Plan

CPU_CAP = {
    "name": "cpu-cap",
    "resourceTypes": ["aws:ecs/taskDefinition:TaskDefinition"],
    "expression": "int(resource.inputs.cpu) <= 512",
    "severity": "critical",
    "message": "tasks may use at most half a vCPU",
}


def org(**spec: Any) -> Any:
    return parse_policy({"metadata": {"name": "org"}, "spec": {"rules": [CPU_CAP], **spec}})


def checked(
    case: tuple[Manifest, Plan],
    annotations: dict[str, str] | None = None,
    policies: list[Any] | None = None,
    spec: Any = None,
) -> Review:
    from payplat.guardrails import PlatformRef

    manifest, planned = case
    platform = PlatformRef(manifest.name, manifest.namespace, manifest.labels, manifest.spec.region)
    return review(planned.resources, spec or manifest.spec, platform, annotations=annotations, policies=policies or [])


def test_a_critical_org_finding_blocks(example: tuple[Manifest, Plan]) -> None:
    result = checked(example, policies=[org()])
    assert [f.rule for f in result.blocking] == ["org.cpu-cap"] and result.policies == ["org"]
    task = next(r for r in example[1].resources if r.name.endswith("payment-processor-task"))
    assert result.blocking_message().startswith(
        f"policy violation: org.cpu-cap on {task.type} {task.name} (expression): tasks may use"
    )
    assert result.status_policy()["blocked"] is True and result.counts()["critical"] == 1


def test_a_waiver_with_a_reason_lets_it_through_and_shows(example: tuple[Manifest, Plan]) -> None:
    result = checked(example, {"payplat.io/waive-org.cpu-cap": "batch settlement needs 1 vCPU (CAB-1234)"}, [org()])
    assert result.blocking == []
    assert [(f.rule, f.waived) for f in result.findings] == [
        ("org.cpu-cap", "batch settlement needs 1 vCPU (CAB-1234)")
    ]
    status = result.status_policy()
    assert status["waivers"] == [{"rule": "org.cpu-cap", "reason": "batch settlement needs 1 vCPU (CAB-1234)"}]
    assert status["counts"]["critical"] == 0 and status["findings"][0]["waived"]


def test_a_waiver_without_a_reason_waives_nothing(example: tuple[Manifest, Plan]) -> None:
    result = checked(example, {"payplat.io/waive-org.cpu-cap": "  "}, [org()])
    assert [f.rule for f in result.blocking] == ["org.cpu-cap"]
    assert "waiver-without-reason" in {f.rule for f in result.findings}


def test_a_non_waivable_rule_stays_blocking(example: tuple[Manifest, Plan]) -> None:
    locked = org(rules=[{**CPU_CAP, "waivable": False}])
    result = checked(example, {"payplat.io/waive-org.cpu-cap": "please"}, [locked])
    assert [f.rule for f in result.blocking] == ["org.cpu-cap"]
    refused = next(f for f in result.findings if f.rule == "waiver-refused")
    assert "PaymentPlatformPolicy/org makes it non-waivable" in refused.message


def test_a_built_in_critical_rule_can_be_locked_by_the_org(example: tuple[Manifest, Plan]) -> None:
    manifest, planned = example
    task = next(r for r in planned.resources if r.type == "aws:ecs/taskDefinition:TaskDefinition")
    containers = json.loads(task.inputs["containerDefinitions"])
    containers[0]["environment"].append({"name": "DSN", "value": "postgres://u:p4ss@db/x"})
    leaked = [
        replace(r, inputs={**r.inputs, "containerDefinitions": json.dumps(containers)}) if r is task else r
        for r in planned.resources
    ]
    waiver = {"payplat.io/waive-plain-credentials": "test fixture only"}
    assert checked((manifest, replace(planned, resources=leaked)), waiver).blocking == []
    locked = org(rules=[], nonWaivable=["plain-credentials"])
    assert [f.rule for f in checked((manifest, replace(planned, resources=leaked)), waiver, [locked]).blocking] == [
        "plain-credentials"
    ]


def test_the_budget_finding_takes_the_platform_or_the_org_severity(minimal: tuple[Manifest, Plan]) -> None:
    spec = minimal[0].spec.model_copy(
        update={"budget": minimal[0].spec.model_validate({"budget": {"monthlyLimit": 100}}).budget}
    )
    own = checked(minimal, spec=spec)
    budget = next(f for f in own.findings if f.rule == "budget")
    assert budget.severity is Severity.HIGH and own.blocking == []
    assert budget.message.startswith(
        "the estimate of 130.99 USD/month (up to 249.43 at full scale) exceeds the budget of 100.00"
    )
    strict = checked(minimal, spec=spec, policies=[org(rules=[], budgetSeverity="critical")])
    assert [f.rule for f in strict.blocking] == ["budget"]
    roomy = minimal[0].spec.model_validate({"budget": {"monthlyLimit": 200}})
    assert "budget" not in {f.rule for f in checked(minimal, spec=roomy).findings}


def test_waiver_annotations_are_read_by_prefix() -> None:
    waivers, problems = waivers_from_annotations(
        {"payplat.io/waive-alb-https": "internal only", "other": "x", "payplat.io/waive-budget": ""}
    )
    assert [(w.rule, w.reason) for w in waivers] == [("alb-https", "internal only")]
    assert [p.rule for p in problems] == ["waiver-without-reason"]


def test_the_json_sections_are_the_contract(minimal: tuple[Manifest, Plan]) -> None:
    document = checked(minimal).to_json_dict()
    assert list(document) == ["policy", "cost"]
    assert list(document["policy"]) == ["blocked", "counts", "findings", "waivers", "policies"]
    assert list(document["policy"]["findings"][0]) == [
        "rule",
        "severity",
        "resource",
        "field",
        "message",
        "fix",
        "source",
        "check",
    ]
    assert list(document["cost"]) == ["currency", "region", "priceDate", "monthly", "min", "max", "items"]

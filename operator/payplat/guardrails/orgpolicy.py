"""Organisation policies: the cluster-scoped ``PaymentPlatformPolicy`` objects.

A platform team writes rules in CEL over one planned resource (``resource.type``,
``resource.name``, ``resource.inputs``, with JSON-document inputs such as
``containerDefinitions`` or IAM ``policy`` already parsed) and the platform it belongs to
(``platform.name``, ``platform.namespace``, ``platform.labels``, ``platform.region``).
A rule's expression must be true for every resource of its ``resourceTypes``; where it
is false, the platform gets a finding of the rule's severity. Like a
ValidatingAdmissionPolicy, ``failurePolicy: Fail`` (the default) turns an expression that
does not compile, errors or runs over its cost limit into a finding too, so a broken
guardrail fails closed; ``Ignore`` drops it (the policy's status still names it).

Parsing never raises: an object that does not fit the model yields problems that name
the field, for the policy's status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from payplat.guardrails import celrules
from payplat.guardrails.findings import MAX_RULE_ID, RULE_ID, Finding, Resource, Severity

__all__ = [
    "COMPILED_RULE",
    "MAX_RULES",
    "REVIEW_COST_LIMIT",
    "OrgPolicy",
    "PlatformRef",
    "PolicySpec",
    "evaluate_org_policies",
    "parse_policy",
]

MAX_RULES = 64
MAX_RULE_NAME = 40
MAX_MESSAGE = 1024
#: All CEL evaluations of one review together (about a second of celpy at worst).
REVIEW_COST_LIMIT = 50_000
COMPILED_RULE = celrules.CompiledRule


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, use_attribute_docstrings=True
    )


class SelectorOperator(str, Enum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(_Model):
    key: str
    """A label key of the PaymentPlatform."""
    operator: SelectorOperator
    """In, NotIn, Exists or DoesNotExist."""
    values: list[str] = Field(default_factory=list)
    """Values for In and NotIn."""


class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels a PaymentPlatform must carry, all of them."""
    match_expressions: list[SelectorRequirement] = Field(default_factory=list)
    """Label requirements, all of which must hold."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        for requirement in self.match_expressions:
            present = requirement.key in labels
            if requirement.operator is SelectorOperator.EXISTS and not present:
                return False
            if requirement.operator is SelectorOperator.DOES_NOT_EXIST and present:
                return False
            if requirement.operator is SelectorOperator.IN and labels.get(requirement.key) not in requirement.values:
                return False
            if (
                requirement.operator is SelectorOperator.NOT_IN
                and present
                and labels[requirement.key] in requirement.values
            ):
                return False
        return True


class FailurePolicy(str, Enum):
    FAIL = "Fail"
    IGNORE = "Ignore"


class PolicyRule(_Model):
    name: Annotated[str, Field(min_length=1, max_length=MAX_RULE_NAME, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    """Rule name (a DNS label); the rule id is <policy name>.<rule name>, e.g. for a waiver annotation."""
    resource_types: list[str] = Field(default_factory=list, max_length=32)
    """Pulumi type tokens the rule applies to, e.g. aws:ecs/taskDefinition:TaskDefinition; empty: every resource."""
    expression: Annotated[str, Field(min_length=1, max_length=celrules.MAX_EXPRESSION)]
    """CEL that must be true for each matching resource (variables: resource, platform)."""
    severity: Severity
    """critical (blocks the apply), high, medium or low."""
    message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE)]
    """What is wrong when the expression is false."""
    fix: Annotated[str, Field(max_length=MAX_MESSAGE)] = ""
    """How to fix it."""
    waivable: bool = True
    """Whether a platform may waive this rule with a payplat.io/waive-<rule id> annotation."""


class PolicySpec(_Model):
    """Organisation rules, a platform selector and which rules may not be waived."""

    platform_selector: LabelSelector = Field(default_factory=LabelSelector)
    """Which PaymentPlatforms (by label) this policy applies to; empty: all."""
    namespaces: list[str] = Field(default_factory=list, max_length=256)
    """Only platforms in these namespaces; empty: every namespace."""
    rules: list[PolicyRule] = Field(default_factory=list, max_length=MAX_RULES)
    """CEL rules over planned resources."""
    non_waivable: list[str] = Field(default_factory=list, max_length=256)
    """Rule ids (built-in, e.g. plain-credentials, or <policy>.<rule>) no platform may waive."""
    budget_severity: Severity | None = None
    """Severity of an over-budget finding (spec.budget) on selected platforms, overriding the platform's own."""
    failure_policy: FailurePolicy = FailurePolicy.FAIL
    """Fail: a rule that does not compile or errors is a finding of its severity; Ignore: it is skipped."""


@dataclass(frozen=True)
class PlatformRef:
    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    region: str = ""

    def as_cel(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "labels": dict(self.labels), "region": self.region}


@dataclass(frozen=True)
class OrgPolicy:
    """One PaymentPlatformPolicy as the operator uses it: parsed, its rules compiled."""

    name: str
    generation: int
    spec: PolicySpec | None
    compiled: Mapping[str, celrules.CompiledRule | str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    """Why the object or some of its rules cannot be used; empty when all is well."""

    @property
    def source(self) -> str:
        return f"PaymentPlatformPolicy/{self.name}"

    def rule_id(self, rule: PolicyRule) -> str:
        return f"{self.name}.{rule.name}"

    def selects(self, platform: PlatformRef) -> bool:
        if self.spec is None:
            return True  # an unreadable policy applies everywhere: it fails closed below
        if self.spec.namespaces and platform.namespace not in self.spec.namespaces:
            return False
        return self.spec.platform_selector.matches(platform.labels)

    def non_waivable(self) -> dict[str, str]:
        if self.spec is None:
            return {}
        rules = {self.rule_id(r): self.source for r in self.spec.rules if not r.waivable}
        return {**dict.fromkeys(self.spec.non_waivable, self.source), **rules}


def parse_policy(body: Mapping[str, Any]) -> OrgPolicy:
    metadata = body.get("metadata") or {}
    name = str(metadata.get("name") or "")
    generation = int(metadata.get("generation") or 0)
    try:
        spec = PolicySpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        invalid = tuple(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        return OrgPolicy(name=name, generation=generation, spec=None, problems=invalid)
    compiled: dict[str, celrules.CompiledRule | str] = {}
    problems: list[str] = []
    seen: set[str] = set()
    for index, rule in enumerate(spec.rules):
        if rule.name in seen:
            problems.append(f"spec.rules[{index}].name: {rule.name!r} is used twice")
        seen.add(rule.name)
        rule_id = f"{name}.{rule.name}"
        if len(rule_id) > MAX_RULE_ID or not RULE_ID.match(rule_id):
            problems.append(
                f"spec.rules[{index}].name: the rule id {rule_id!r} is longer than {MAX_RULE_ID} "
                "characters, so it cannot be waived by annotation"
            )
        result = celrules.compile_rule(rule.expression)
        compiled[rule.name] = result
        if isinstance(result, str):
            problems.append(f"spec.rules[{index}].expression: {result}")
    return OrgPolicy(name=name, generation=generation, spec=spec, compiled=compiled, problems=tuple(problems))


def evaluate_org_policies(
    policies: Iterable[OrgPolicy], resources: Sequence[Resource], platform: PlatformRef
) -> list[Finding]:
    """The findings of every policy that selects ``platform``, over ``resources``."""
    findings: list[Finding] = []
    budget = REVIEW_COST_LIMIT
    inputs_of: dict[str, dict[str, Any]] = {}
    platform_cel = platform.as_cel()
    for policy in sorted(policies, key=lambda p: p.name):
        if not policy.selects(platform):
            continue
        if policy.spec is None:
            findings.append(
                Finding(
                    rule=f"{policy.name}.invalid",
                    severity=Severity.CRITICAL,
                    resource="platform",
                    field=policy.source,
                    message="the policy is invalid: " + "; ".join(policy.problems),
                    fix=f"fix {policy.source} (its status names the problem)",
                    source=policy.source,
                )
            )
            continue
        fail = policy.spec.failure_policy is FailurePolicy.FAIL
        for rule in policy.spec.rules:
            compiled = policy.compiled.get(rule.name)
            if not isinstance(compiled, celrules.CompiledRule):
                if fail:
                    findings.append(_finding(policy, rule, "platform", f"the rule does not compile: {compiled}"))
                continue
            types = set(rule.resource_types)
            for resource in resources:
                if not resource.custom or (types and resource.type not in types):
                    continue
                if budget <= 0:
                    verdict = celrules.Verdict(
                        False, f"the review's total CEL cost limit ({REVIEW_COST_LIMIT}) is spent"
                    )
                else:
                    inputs = inputs_of.get(resource.urn)
                    if inputs is None:
                        inputs = inputs_of[resource.urn] = celrules.decoded(resource.inputs)
                    variables = {
                        "resource": {
                            "type": resource.type,
                            "name": resource.name,
                            "urn": resource.urn,
                            "inputs": inputs,
                        },
                        "platform": platform_cel,
                    }
                    verdict = celrules.evaluate(compiled, variables, limit=min(celrules.COST_LIMIT, budget))
                    budget -= verdict.cost
                if verdict.error is not None:
                    if fail:
                        findings.append(
                            _finding(
                                policy,
                                rule,
                                f"{resource.type} {resource.name}",
                                f"{rule.message} (the rule could not be evaluated: {verdict.error})",
                            )
                        )
                elif not verdict.passed:
                    findings.append(_finding(policy, rule, f"{resource.type} {resource.name}", rule.message))
    return findings


def _finding(policy: OrgPolicy, rule: PolicyRule, resource: str, message: str) -> Finding:
    return Finding(
        rule=policy.rule_id(rule),
        severity=rule.severity,
        resource=resource,
        field="expression",
        message=message,
        fix=rule.fix or f"make `{rule.expression}` true",
        source=policy.source,
    )

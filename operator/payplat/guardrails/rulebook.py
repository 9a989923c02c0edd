"""The built-in pack's rulebook: the vocabulary every built-in rule is written in.

One job: turn a rule's problems into ``Finding``s the same way for every rule. It holds
the resource types the rules look up, the ``PlanView`` index over a plan, the ``RuleSet``
each rule module registers into, and the readers of the JSON-in-a-string inputs
(container definitions, policy documents) several rule groups need. The rules themselves
live in ``rules*.py``, grouped by what they guard; ``builtin`` puts the groups together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from payplat.guardrails.findings import Finding, Resource, Severity

KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
CLUSTER = "aws:ecs/cluster:Cluster"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ROUTE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
EIP = "aws:ec2/eip:Eip"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DISCOVERY = "aws:servicediscovery/service:Service"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    check: str | None
    evaluate: Callable[[PlanView], Iterator[Finding]]


class PlanView:
    """The planned resources, indexed the ways the rules look them up."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = list(resources)
        self._by_type: dict[str, list[Resource]] = {}
        for resource in self.resources:
            self._by_type.setdefault(resource.type, []).append(resource)

    def of(self, type_: str) -> list[Resource]:
        return self._by_type.get(type_, [])

    def ids(self, type_: str) -> set[str]:
        return {str(getattr(r, "id", None)) for r in self.of(type_)}


Problems = Iterator[tuple[Resource | None, str, str, str]]


class RuleSet:
    """The rules of one group, in the order they are registered."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def rule(
        self, id_: str, severity: Severity, title: str, check: str | None = None
    ) -> Callable[[Callable[[PlanView], Problems]], None]:
        """Register a rule. Its function yields ``(resource, field, message, fix)`` per problem."""

        def register(function: Callable[[PlanView], Problems]) -> None:
            def evaluate(view: PlanView) -> Iterator[Finding]:
                for resource, field, message, fix in function(view):
                    yield Finding(
                        rule=id_,
                        severity=severity,
                        resource=label(resource),
                        field=field,
                        message=message,
                        fix=fix,
                        check=check,
                    )

            self.rules.append(Rule(id_, severity, title, check, evaluate))

        return register

    def must_be_true(
        self,
        id_: str,
        severity: Severity,
        title: str,
        check: str | None,
        type_: str,
        field: str,
        message: str,
        fix: str,
    ) -> None:
        """Register a rule that one boolean input of every resource of ``type_`` is true."""

        def evaluate(view: PlanView) -> Problems:
            for resource in view.of(type_):
                if resource.inputs.get(field) is not True:
                    yield resource, field, message, fix

        self.rule(id_, severity, title, check)(evaluate)


def label(resource: Resource | None) -> str:
    return "platform" if resource is None else f"{resource.type} {resource.name}"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def containers(view: PlanView) -> Iterator[tuple[Resource, int, dict[str, Any]]]:
    for task in view.of(TASK):
        for index, container in enumerate(_json(task.inputs.get("containerDefinitions")) or []):
            if isinstance(container, dict):
                yield task, index, container


def statements(resource: Resource) -> Iterator[tuple[int, dict[str, Any]]]:
    document = _json(resource.inputs.get("policy")) or {}
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
        if isinstance(statement, dict):
            yield index, statement


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]

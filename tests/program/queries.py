"""Small lookups over a Plan, shared by the program tests."""

from __future__ import annotations

import json
from typing import Any

from payplat.program.plan import Plan, PlannedResource

ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
KMS_KEY = "aws:kms/key:Key"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"


def one(plan: Plan, type_: str) -> PlannedResource:
    found = plan.of_type(type_)
    assert len(found) == 1, f"expected one {type_}, found {len(found)}"
    return found[0]


def ecs_service(plan: Plan, name: str) -> PlannedResource:
    return next(r for r in plan.of_type(ECS_SERVICE) if r.inputs["name"] == name)


def sibling(plan: Plan, resource: PlannedResource, type_: str) -> list[PlannedResource]:
    """Resources of ``type_`` in the same component as ``resource``."""
    return [r for r in plan.resources if r.parent == resource.parent and r.type == type_]


def container(plan: Plan, name: str) -> dict[str, Any]:
    """The (single) container definition of service ``name``, as ECS will receive it."""
    task = plan.by_id(TASK_DEFINITION, ecs_service(plan, name).inputs["taskDefinition"].split("/")[-1].split(":")[0])
    definitions = json.loads(task.inputs["containerDefinitions"])
    assert len(definitions) == 1
    return definitions[0]


def task_definition(plan: Plan, name: str) -> PlannedResource:
    return sibling(plan, ecs_service(plan, name), TASK_DEFINITION)[0]


def document(resource: PlannedResource, key: str = "policy") -> dict[str, Any]:
    return json.loads(resource.inputs[key])


def statements(resource: PlannedResource, key: str = "policy") -> list[dict[str, Any]]:
    return document(resource, key)["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]

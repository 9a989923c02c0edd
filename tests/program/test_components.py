"""Seed failure 3 (the ComponentResource pattern) and properties of the plan as a whole."""

from __future__ import annotations

import json

from payplat.model.spec import PlatformSpec
from payplat.program.plan import UNKNOWN_MASK, Plan
from payplat.program.stackkeys import INTERNAL_OUTPUTS
from payplat.program.tagging import operator_tags

STACK = "pulumi:pulumi:Stack"
TOP = "payplat:index:PaymentPlatform"
#: Custom resources AWS cannot tag (or that Pulumi models without tags).
UNTAGGABLE = {
    "pulumi:providers:aws",
    "aws:kms/alias:Alias",
    "aws:ec2/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:appautoscaling/policy:Policy",
}


def test_only_the_top_component_hangs_off_the_stack(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    stack = next(r for r in plan.resources if r.type == STACK)
    assert stack.parent is None
    assert [r.type for r in plan.resources if r.parent == stack.urn] == [TOP]


def test_every_resource_has_a_parent_inside_the_platform(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    by_urn = {r.urn: r for r in plan.resources}
    (top,) = plan.of_type(TOP)
    for resource in plan.resources:
        if resource.type in (STACK, TOP):
            continue
        ancestor = resource
        while ancestor.parent in by_urn and ancestor is not top:
            ancestor = by_urn[ancestor.parent]
        assert ancestor is top, f"{resource.name} does not descend from the PaymentPlatform"


def test_components_use_payplat_type_tokens(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    components = {r.type for r in plan.resources if not r.custom and r.type != STACK}
    assert components == {
        "payplat:index:PaymentPlatform",
        "payplat:index:Encryption",
        "payplat:index:Network",
        "payplat:index:DatabaseSecret",
        "payplat:index:ExecutionRole",
        "payplat:index:LoadBalancer",
        "payplat:index:Cluster",
        "payplat:index:FargateService",
    }


def test_every_component_registers_its_outputs(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    for component in (r for r in plan.resources if not r.custom and r.type != STACK):
        assert component.registered_outputs, f"{component.type} {component.name} registered no outputs"


def test_top_component_registers_the_stack_outputs(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    (top,) = plan.of_type(TOP)
    assert top.registered_outputs == {k: v for k, v in plan.outputs.items() if k not in INTERNAL_OUTPUTS}


def test_one_fargate_service_component_per_spec_service(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    components = plan.of_type("payplat:index:FargateService")
    assert sorted(c.registered_outputs["serviceName"] for c in components) == sorted(s.name for s in spec.services)


def test_no_input_is_left_unknown(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    assert UNKNOWN_MASK not in json.dumps(plan.to_json_dict())


def test_every_aws_resource_uses_the_platform_provider_in_the_spec_region(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    (provider,) = plan.of_type("pulumi:providers:aws")
    assert provider.inputs["region"] == spec.region
    for resource in plan.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.provider == f"{provider.urn}::{provider.id}", resource.name


def test_every_taggable_resource_carries_the_spec_and_operator_tags(
    case: tuple[PlatformSpec, Plan], example_manifest
) -> None:  # type: ignore[no-untyped-def]
    spec, plan = case
    name = plan.of_type(TOP)[0].name
    namespace = plan.stack.split("_", 1)[0]  # identity.stack_name: "<namespace>_<name>"
    expected = {**spec.tags, **operator_tags(namespace, name, spec.suffix(namespace, name))}
    for resource in plan.resources:
        if resource.custom and resource.type not in UNTAGGABLE:
            tags = resource.inputs.get("tags")
            assert tags and expected.items() <= tags.items(), resource.name


def test_outputs_point_at_the_planned_resources(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    ids = {r.id for r in plan.resources}
    assert plan.outputs["vpcId"] in ids
    assert set(plan.outputs["publicSubnetIds"] + plan.outputs["privateSubnetIds"]) <= ids
    assert plan.outputs["secretArn"] in ids
    assert plan.outputs["clusterArn"] in ids

"""Seed failure 7 (Cloud Map service discovery)."""

from __future__ import annotations

from payplat.model.spec import PlatformSpec
from payplat.program.plan import Plan

from .queries import ecs_service, one

NAMESPACE = "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace"
DISCOVERY = "aws:servicediscovery/service:Service"


def test_private_dns_namespace_lives_in_the_platform_vpc(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    namespace = one(plan, NAMESPACE)
    assert namespace.inputs["vpc"] == one(plan, "aws:ec2/vpc:Vpc").id
    assert plan.outputs["namespaceName"] == namespace.inputs["name"]


def test_each_service_registers_multivalue_a_records_with_ttl_10(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    namespace = one(plan, NAMESPACE)
    for service in spec.services:
        registry = ecs_service(plan, service.name).inputs["serviceRegistries"]
        assert set(registry) == {"registryArn"}, "one registry object, not a list; A records need no port"
        discovery = next(d for d in plan.of_type(DISCOVERY) if registry["registryArn"].endswith(f"/{d.id}"))
        assert discovery.inputs["dnsConfig"] == {
            "namespaceId": namespace.id,
            "routingPolicy": "MULTIVALUE",
            "dnsRecords": [{"ttl": 10, "type": "A"}],
        }
        assert discovery.inputs["name"] == service.name
        assert "failureThreshold" not in discovery.inputs.get("healthCheckCustomConfig", {})


def test_outputs_name_each_service_by_its_discovery_name(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        assert (
            plan.outputs["services"][service.name]["discoveryName"] == f"{service.name}.{plan.outputs['namespaceName']}"
        )

"""Property-based: any valid spec plans, and every service keeps every invariant."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payplat.model.limits import FARGATE_MEMORY, SECRET_KEYS
from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec
from payplat.program.plan import PLACEHOLDER_PASSWORD, UNKNOWN_MASK, Plan, plan

from .queries import EGRESS, INGRESS, SECRET, SECRET_VERSION, container, ecs_service, one, task_definition

IMAGES = (
    "docker.io/traefik/whoami:v1.10.3",
    "docker.io/hashicorp/http-echo:1.0.0",
    "ghcr.io/example/app@sha256:" + "a" * 64,
)


@st.composite
def services(draw: st.DrawFn) -> list[dict]:  # type: ignore[type-arg]
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True), min_size=1, max_size=5, unique=True))
    public_index = draw(st.integers(0, len(names) - 1))
    result = []
    for index, name in enumerate(names):
        cpu = draw(st.sampled_from(sorted(FARGATE_MEMORY)))
        low = draw(st.integers(1, 4))
        high = draw(st.integers(low, 10))
        secret_keys = draw(st.lists(st.sampled_from(SECRET_KEYS), max_size=3, unique=True))
        result.append(
            {
                "name": name,
                "image": draw(st.sampled_from(IMAGES)),
                "port": draw(st.integers(1024, 65535)),
                "cpu": cpu,
                "memory": draw(st.sampled_from(FARGATE_MEMORY[cpu])),
                "public": index == public_index or draw(st.booleans()),
                "desiredCount": draw(st.integers(low, high)),
                "scaling": {
                    "min": low,
                    "max": high,
                    "cpuTarget": draw(st.integers(10, 95)),
                    "memoryTarget": draw(st.integers(10, 95)),
                },
                "secrets": [{"name": f"DB_{key.upper()}", "key": key} for key in secret_keys],
                "healthCheckPath": draw(st.sampled_from(["/", "/health", "/ready"])),
            }
        )
    return result


@st.composite
def specs(draw: st.DrawFn) -> PlatformSpec:
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/0b7f4a52-3e1c-4c8e-9a7d-2f6d1e5c8b90"
    return parse_spec(
        {
            "region": draw(st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"])),
            "network": {
                "cidr": draw(st.sampled_from(["10.0.0.0/16", "10.42.0.0/20", "192.168.10.0/24"])),
                "availabilityZones": draw(st.integers(2, 3)),
                "natGateways": draw(st.sampled_from(["Single", "PerAZ"])),
                "flowLogs": draw(st.booleans()),
            },
            "services": draw(services()),
            "loadBalancer": {"certificateArn": draw(st.sampled_from([None, certificate]))},
            "tags": draw(
                st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.text(max_size=8), max_size=2)
            ),
        },
        name="prop",
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_every_valid_spec_plans_and_every_service_keeps_its_invariants(spec: PlatformSpec) -> None:
    result = plan(spec, name="prop", stack="default-prop")
    text = json.dumps(result.to_json_dict())
    assert UNKNOWN_MASK not in text and PLACEHOLDER_PASSWORD not in text
    assert len(result.of_type("aws:ec2/natGateway:NatGateway")) == (
        spec.network.availability_zones if spec.network.nat_gateways.value == "PerAZ" else 1
    )
    secret_arn = one(result, SECRET).id
    version = one(result, SECRET_VERSION)
    for service in spec.services:
        _assert_service_invariants(result, spec, service, secret_arn, version.urn)


def _assert_service_invariants(result: Plan, spec: PlatformSpec, service, secret_arn: str, version_urn: str) -> None:  # type: ignore[no-untyped-def]
    ecs = ecs_service(result, service.name)
    definition = container(result, service.name)
    task = task_definition(result, service.name).inputs
    assert definition["image"] == service.image
    assert definition["secrets"] == [{"name": s.name, "valueFrom": f"{secret_arn}:{s.key}::"} for s in service.secrets]
    assert version_urn in ecs.depends_on
    assert (task["cpu"], task["memory"]) == (str(service.cpu), str(service.memory))
    assert task["networkMode"] == "awsvpc" and task["executionRoleArn"] != task["taskRoleArn"]
    network = ecs.inputs["networkConfiguration"]
    assert network["assignPublicIp"] is False and network["subnets"] == result.outputs["privateSubnetIds"]
    assert ecs.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert ecs.inputs["enableExecuteCommand"] is False
    assert bool(ecs.inputs.get("loadBalancers")) is service.public
    own_group = network["securityGroups"][0]
    ingress = [r.inputs for r in result.of_type(INGRESS) if r.inputs["securityGroupId"] == own_group]
    assert [(r["fromPort"], r["toPort"]) for r in ingress] == [(service.port, service.port)]
    assert all("cidrIpv4" not in r for r in ingress)
    assert any(r.inputs["securityGroupId"] == own_group for r in result.of_type(EGRESS))
    scaling = [p for p in result.of_type("aws:appautoscaling/policy:Policy") if p.parent == ecs.parent]
    assert sorted(p.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"] for p in scaling) == sorted(
        [service.scaling.cpu_target, service.scaling.memory_target]
    )
    assert result.outputs["services"][service.name]["serviceName"] == service.name

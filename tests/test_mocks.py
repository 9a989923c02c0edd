"""payplat.program.mocks answers like AWS: realistic formats, unique and stable ids."""

from __future__ import annotations

import re

import pytest
from pulumi.runtime import MockCallArgs, MockResourceArgs

from payplat.program.mocks import PlatformMocks


def new(mocks: PlatformMocks, typ: str, resource_name: str, **inputs: object) -> tuple[str, dict]:  # type: ignore[type-arg]
    args = MockResourceArgs(typ=typ, name=resource_name, inputs=dict(inputs), custom=True)
    resource_id, outputs = mocks.new_resource(args)
    assert resource_id is not None
    return resource_id, outputs


@pytest.fixture
def mocks() -> PlatformMocks:
    return PlatformMocks(region="eu-west-1")


@pytest.mark.parametrize(
    ("typ", "pattern"),
    [
        ("aws:ec2/vpc:Vpc", r"vpc-[0-9a-f]{17}"),
        ("aws:ec2/subnet:Subnet", r"subnet-[0-9a-f]{17}"),
        ("aws:ec2/eip:Eip", r"eipalloc-[0-9a-f]{17}"),
        ("aws:ec2/natGateway:NatGateway", r"nat-[0-9a-f]{17}"),
        ("aws:ec2/securityGroup:SecurityGroup", r"sg-[0-9a-f]{17}"),
        ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", r"sgr-[0-9a-f]{17}"),
        ("aws:kms/key:Key", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        ("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace", r"ns-[0-9a-f]{16}"),
        ("aws:servicediscovery/service:Service", r"srv-[0-9a-f]{16}"),
    ],
)
def test_ids_follow_aws_formats(mocks: PlatformMocks, typ: str, pattern: str) -> None:
    resource_id, _ = new(mocks, typ, "x")
    assert re.fullmatch(pattern, resource_id)


def test_ids_are_unique_per_name_and_stable_across_runs(mocks: PlatformMocks) -> None:
    first, _ = new(mocks, "aws:ec2/subnet:Subnet", "a")
    second, _ = new(mocks, "aws:ec2/subnet:Subnet", "b")
    assert first != second
    assert new(PlatformMocks(region="eu-west-1"), "aws:ec2/subnet:Subnet", "a")[0] == first


def test_secret_arns_carry_the_six_character_suffix(mocks: PlatformMocks) -> None:
    arn, outputs = new(mocks, "aws:secretsmanager/secret:Secret", "s", name="payplat/prod/database")
    assert re.fullmatch(r"arn:aws:secretsmanager:eu-west-1:123456789012:secret:payplat/prod/database-[A-Za-z]{6}", arn)
    assert outputs["arn"] == arn


def test_eips_expose_their_allocation_id_and_a_public_ip(mocks: PlatformMocks) -> None:
    allocation, outputs = new(mocks, "aws:ec2/eip:Eip", "e", domain="vpc")
    assert outputs["allocationId"] == allocation
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", outputs["publicIp"])


def test_load_balancers_get_an_arn_and_a_regional_dns_name(mocks: PlatformMocks) -> None:
    arn, outputs = new(mocks, "aws:lb/loadBalancer:LoadBalancer", "alb", name="prod-alb")
    assert re.fullmatch(
        r"arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/prod-alb/[0-9a-f]{16}", arn
    )
    assert re.fullmatch(r"prod-alb-\d+\.eu-west-1\.elb\.amazonaws\.com", outputs["dnsName"])


def test_named_resources_keep_their_name_and_get_an_arn(mocks: PlatformMocks) -> None:
    role_id, role = new(mocks, "aws:iam/role:Role", "r", name="prod-ecs-execution")
    assert role_id == "prod-ecs-execution"
    assert role["arn"] == "arn:aws:iam::123456789012:role/prod-ecs-execution"
    group_id, group = new(mocks, "aws:cloudwatch/logGroup:LogGroup", "g", name="/payplat/prod/api")
    assert (
        group_id == "/payplat/prod/api"
        and group["arn"] == "arn:aws:logs:eu-west-1:123456789012:log-group:/payplat/prod/api"
    )


def test_inputs_are_echoed_as_outputs(mocks: PlatformMocks) -> None:
    _, outputs = new(mocks, "aws:ec2/vpc:Vpc", "v", cidrBlock="10.0.0.0/16", tags={"team": "x"})
    assert outputs["cidrBlock"] == "10.0.0.0/16" and outputs["tagsAll"] == {"team": "x"}


def test_invokes_answer_identity_region_and_zones(mocks: PlatformMocks) -> None:
    identity, _ = mocks.call(MockCallArgs("aws:index/getCallerIdentity:getCallerIdentity", {}, ""))
    assert identity["accountId"] == "123456789012" and identity["arn"].startswith("arn:aws:sts::123456789012:")
    region, _ = mocks.call(MockCallArgs("aws:index/getRegion:getRegion", {}, ""))
    assert region["name"] == "eu-west-1"
    zones, _ = mocks.call(MockCallArgs("aws:index/getAvailabilityZones:getAvailabilityZones", {}, ""))
    assert zones["names"][:3] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def test_unknown_invokes_fail_loudly_instead_of_returning_nothing(mocks: PlatformMocks) -> None:
    with pytest.raises(NotImplementedError, match="aws:ec2/getVpc:getVpc"):
        mocks.call(MockCallArgs("aws:ec2/getVpc:getVpc", {}, ""))

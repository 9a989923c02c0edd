"""Seed failure 4 (NAT and routing) and the VPC's production practice."""

from __future__ import annotations

import pytest

from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec
from payplat.program.plan import Plan, plan

from .queries import LOG_GROUP, ROLE, ROLE_POLICY, one, statements

SUBNET = "aws:ec2/subnet:Subnet"
EIP = "aws:ec2/eip:Eip"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"


def _subnets(plan: Plan, tier: str) -> list:  # type: ignore[type-arg]
    return [s for s in plan.of_type(SUBNET) if s.inputs["tags"]["payplat.io/tier"] == tier]


def _default_route(plan: Plan, subnet_id: str) -> dict:  # type: ignore[type-arg]
    (association,) = [a for a in plan.of_type(ASSOCIATION) if a.inputs["subnetId"] == subnet_id]
    (route,) = [r for r in plan.of_type(ROUTE) if r.inputs["routeTableId"] == association.inputs["routeTableId"]]
    assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    return route.inputs


@pytest.fixture(scope="module")
def single_nat_three_zones() -> Plan:
    spec = parse_spec({"network": {"availabilityZones": 3, "natGateways": "Single", "flowLogs": False}}, name="single")
    return plan(spec, name="single", stack="default-single")


def test_vpc_enables_dns_support_and_hostnames(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    vpc = one(plan, "aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] is True and vpc.inputs["enableDnsHostnames"] is True
    assert vpc.inputs["cidrBlock"] == spec.network.cidr


def test_one_public_and_one_private_subnet_per_zone_in_distinct_zones(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for tier in ("public", "private"):
        subnets = _subnets(plan, tier)
        assert len(subnets) == spec.network.availability_zones
        zones = {s.inputs["availabilityZone"] for s in subnets}
        assert len(zones) == len(subnets) and all(z.startswith(spec.region) for z in zones)


def test_no_subnet_assigns_public_ips(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in plan.of_type(SUBNET))


def test_eips_use_the_vpc_domain(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    assert plan.of_type(EIP) and all(e.inputs["domain"] == "vpc" for e in plan.of_type(EIP))


def test_nat_gateways_use_an_eip_allocation_in_a_public_subnet(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    public_ids = {s.id for s in _subnets(plan, "public")}
    allocations = {e.id for e in plan.of_type(EIP)}
    for nat in plan.of_type(NAT):
        assert nat.inputs["allocationId"].startswith("eipalloc-") and nat.inputs["allocationId"] in allocations
        assert nat.inputs["subnetId"] in public_ids


def test_nat_count_follows_the_spec(default_plan: Plan, example_plan: Plan, single_nat_three_zones: Plan) -> None:
    assert len(default_plan.of_type(NAT)) == 1  # Single, 2 zones
    assert len(example_plan.of_type(NAT)) == 3  # PerAZ, 3 zones
    assert len(single_nat_three_zones.of_type(NAT)) == 1  # Single, 3 zones
    assert len(single_nat_three_zones.of_type(EIP)) == 1


def test_public_subnets_route_to_the_internet_gateway(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    gateway = one(plan, "aws:ec2/internetGateway:InternetGateway")
    for subnet in _subnets(plan, "public"):
        assert _default_route(plan, subnet.id)["gatewayId"] == gateway.id


def test_per_az_private_subnets_route_through_the_nat_in_their_own_zone(example_plan: Plan) -> None:
    zone_of_subnet = {s.id: s.inputs["availabilityZone"] for s in example_plan.of_type(SUBNET)}
    zone_of_nat = {n.id: zone_of_subnet[n.inputs["subnetId"]] for n in example_plan.of_type(NAT)}
    for subnet in _subnets(example_plan, "private"):
        nat_id = _default_route(example_plan, subnet.id)["natGatewayId"]
        assert zone_of_nat[nat_id] == subnet.inputs["availabilityZone"]


def test_single_nat_serves_every_private_subnet(single_nat_three_zones: Plan) -> None:
    (nat,) = single_nat_three_zones.of_type(NAT)
    for subnet in _subnets(single_nat_three_zones, "private"):
        assert _default_route(single_nat_three_zones, subnet.id)["natGatewayId"] == nat.id


def test_nat_gateways_wait_for_the_internet_gateway(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    gateway = one(plan, "aws:ec2/internetGateway:InternetGateway")
    assert all(gateway.urn in nat.depends_on for nat in plan.of_type(NAT))


def test_default_security_group_is_stripped_of_rules(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    group = one(plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert group.inputs["vpcId"] == one(plan, "aws:ec2/vpc:Vpc").id
    assert not group.inputs.get("ingress") and not group.inputs.get("egress")


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_group(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    flow = one(plan, FLOW_LOG)
    assert flow.inputs["trafficType"] == "ALL" and flow.inputs["vpcId"] == one(plan, "aws:ec2/vpc:Vpc").id
    (group,) = [g for g in plan.of_type(LOG_GROUP) if flow.inputs["logDestination"].endswith(f":log-group:{g.id}")]
    assert group.inputs["kmsKeyId"] == plan.outputs["kmsKeyArn"]


def test_flow_logs_role_writes_only_its_log_group(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    flow = one(plan, FLOW_LOG)
    (role,) = [r for r in plan.of_type(ROLE) if flow.inputs["iamRoleArn"].endswith(f":role{r.inputs['path']}{r.id}")]
    assert statements(role, "assumeRolePolicy")[0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    (policy,) = [p for p in plan.of_type(ROLE_POLICY) if p.inputs["role"] == role.id]
    (statement,) = statements(policy)
    assert statement["Resource"] == [flow.inputs["logDestination"], flow.inputs["logDestination"] + ":*"]
    assert policy.urn in flow.depends_on


def test_flow_logs_can_be_turned_off(single_nat_three_zones: Plan) -> None:
    assert not single_nat_three_zones.of_type(FLOW_LOG)

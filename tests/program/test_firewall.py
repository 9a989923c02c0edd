"""Seed failure 6 (security group egress) and who may talk to whom."""

from __future__ import annotations

from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec
from payplat.program.plan import Plan, plan

from .queries import EGRESS, INGRESS, LOAD_BALANCER, SECURITY_GROUP, ecs_service, one


def _task_group(plan: Plan, name: str) -> str:
    """The service's own group: the first in its network configuration."""
    return ecs_service(plan, name).inputs["networkConfiguration"]["securityGroups"][0]


def _peers_group(plan: Plan) -> str:
    return next(g.id for g in plan.of_type(SECURITY_GROUP) if g.inputs["name"].endswith("-service-peers"))


def _alb_group(plan: Plan) -> str:
    (group,) = one(plan, LOAD_BALANCER).inputs["securityGroups"]
    return group


def test_every_security_group_has_explicit_egress(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    with_egress = {rule.inputs["securityGroupId"] for rule in plan.of_type(EGRESS)}
    for group in plan.of_type(SECURITY_GROUP):
        assert group.id in with_egress, group.name


def test_security_groups_have_no_inline_rules(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    for group in plan.of_type(SECURITY_GROUP):
        assert not group.inputs.get("ingress") and not group.inputs.get("egress"), group.name


def test_every_security_group_rule_has_a_description(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    for rule in plan.of_type(INGRESS) + plan.of_type(EGRESS):
        assert len(rule.inputs.get("description", "")) > 10, rule.name


def test_public_task_security_groups_accept_only_the_load_balancer_on_the_container_port(
    case: tuple[PlatformSpec, Plan],
) -> None:
    spec, plan = case
    for service in spec.public_services():
        rules = [
            r.inputs for r in plan.of_type(INGRESS) if r.inputs["securityGroupId"] == _task_group(plan, service.name)
        ]
        assert rules == [
            {
                **rules[0],
                "fromPort": service.port,
                "toPort": service.port,
                "ipProtocol": "tcp",
                "referencedSecurityGroupId": _alb_group(plan),
            }
        ]
        assert "cidrIpv4" not in rules[0]


def test_private_task_security_groups_accept_only_platform_peers_on_their_port(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    private = [s for s in spec.services if not s.public]
    assert private
    for service in private:
        rules = [
            r.inputs for r in plan.of_type(INGRESS) if r.inputs["securityGroupId"] == _task_group(plan, service.name)
        ]
        assert len(rules) == 1
        assert (rules[0]["fromPort"], rules[0]["toPort"]) == (service.port, service.port)
        assert rules[0]["referencedSecurityGroupId"] == _peers_group(plan)


def test_every_task_carries_the_peers_group_so_services_can_call_each_other(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        groups = ecs_service(plan, service.name).inputs["networkConfiguration"]["securityGroups"]
        assert groups[1:] == [_peers_group(plan)]


def test_peers_reach_private_ports_and_the_database_only_inside_the_vpc(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    rules = [r.inputs for r in plan.of_type(EGRESS) if r.inputs["securityGroupId"] == _peers_group(plan)]
    expected = {s.port for s in spec.services if not s.public} | {spec.database.port}
    assert {r["fromPort"] for r in rules} == expected
    assert {r["cidrIpv4"] for r in rules} == {spec.network.cidr}


def test_tasks_egress_only_https(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        rules = [
            r.inputs for r in plan.of_type(EGRESS) if r.inputs["securityGroupId"] == _task_group(plan, service.name)
        ]
        assert [(r["fromPort"], r["toPort"], r["cidrIpv4"]) for r in rules] == [(443, 443, "0.0.0.0/0")]


def test_load_balancer_accepts_http_and_https_from_the_internet(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    rules = [r.inputs for r in plan.of_type(INGRESS) if r.inputs["securityGroupId"] == _alb_group(plan)]
    expected = {80, 443} if spec.load_balancer.certificate_arn else {80}
    assert {r["fromPort"] for r in rules} == expected
    assert {r["cidrIpv4"] for r in rules} == {"0.0.0.0/0"}


def test_load_balancer_egress_reaches_only_public_tasks_on_their_port(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    rules = [r.inputs for r in plan.of_type(EGRESS) if r.inputs["securityGroupId"] == _alb_group(plan)]
    assert sorted((r["referencedSecurityGroupId"], r["fromPort"]) for r in rules) == sorted(
        (_task_group(plan, s.name), s.port) for s in spec.public_services()
    )


def test_security_group_names_never_start_with_the_reserved_sg_prefix() -> None:
    spec = parse_spec({"environmentSuffix": "sg-prod"}, name="sg-prod")
    result = plan(spec, name="sg-prod", stack="default-sg-prod")
    names = [g.inputs["name"] for g in result.of_type(SECURITY_GROUP)]
    assert names and not any(name.startswith("sg-") for name in names)

"""The internet-facing load balancer and how public services sit behind it."""

from __future__ import annotations

import pytest

from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec
from payplat.program.plan import Plan, plan

from .queries import LISTENER, LISTENER_RULE, LOAD_BALANCER, TARGET_GROUP, ecs_service, one, sibling

TLS13 = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@pytest.fixture(scope="module")
def two_public() -> tuple[PlatformSpec, Plan]:
    spec = parse_spec(
        {
            "deletionPolicy": "Delete",
            "loadBalancer": {"deletionProtection": False},
            "services": [
                {"name": "web", "image": "docker.io/nginxinc/nginx-unprivileged:1.27.5-alpine", "public": True},
                {
                    "name": "admin-console-long-name1",
                    "image": "docker.io/traefik/whoami:v1.10.3",
                    "public": True,
                    "healthCheckPath": "/health",
                },
            ],
        },
        name="a-platform-with-quite-a-long-name",
    )
    return spec, plan(spec, name="a-platform-with-quite-a-long-name", stack="default-long")


def test_load_balancer_is_internet_facing_in_the_public_subnets(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    alb = one(plan, LOAD_BALANCER).inputs
    assert alb["internal"] is False and alb["loadBalancerType"] == "application"
    assert alb["subnets"] == plan.outputs["publicSubnetIds"]


def test_load_balancer_drops_invalid_header_fields(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    assert one(plan, LOAD_BALANCER).inputs["dropInvalidHeaderFields"] is True


def test_deletion_protection_follows_the_spec(
    case: tuple[PlatformSpec, Plan], two_public: tuple[PlatformSpec, Plan]
) -> None:
    for spec, result in (case, two_public):
        assert one(result, LOAD_BALANCER).inputs["enableDeletionProtection"] is spec.load_balancer.deletion_protection


def test_with_a_certificate_https_uses_the_tls13_policy_and_http_only_redirects(example_plan: Plan) -> None:
    listeners = {r.inputs["port"]: r.inputs for r in example_plan.of_type(LISTENER)}
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert (
        https["protocol"] == "HTTPS"
        and https["sslPolicy"] == TLS13
        and https["certificateArn"].startswith("arn:aws:acm:")
    )
    (redirect,) = listeners[80]["defaultActions"]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}
    assert example_plan.outputs["albUrl"].startswith("https://")


def test_without_a_certificate_one_http_listener_serves(default_plan: Plan) -> None:
    (listener,) = default_plan.of_type(LISTENER)
    assert listener.inputs["port"] == 80 and listener.inputs["protocol"] == "HTTP"
    assert "sslPolicy" not in listener.inputs
    assert default_plan.outputs["albUrl"] == f"http://{default_plan.outputs['albDnsName']}"


def test_unmatched_requests_get_a_404_not_a_random_target(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    serving = [r for r in plan.of_type(LISTENER) if r.inputs["defaultActions"][0]["type"] != "redirect"]
    (listener,) = serving
    assert listener.inputs["defaultActions"][0]["fixedResponse"]["statusCode"] == "404"


def test_public_services_use_ip_target_groups_with_their_health_check_path(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.public_services():
        (balanced,) = ecs_service(plan, service.name).inputs["loadBalancers"]
        group = plan.by_id(TARGET_GROUP, balanced["targetGroupArn"])
        assert group.inputs["targetType"] == "ip" and group.inputs["port"] == service.port
        assert group.inputs["healthCheck"]["path"] == service.health_check_path
        assert group.inputs["vpcId"] == plan.outputs["vpcId"]
        assert (balanced["containerName"], balanced["containerPort"]) == (service.name, service.port)


def test_private_services_are_not_behind_the_load_balancer(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        if not service.public:
            assert not ecs_service(plan, service.name).inputs.get("loadBalancers")
            assert not sibling(plan, ecs_service(plan, service.name), TARGET_GROUP)


def test_public_service_waits_for_its_listener_rule(case: tuple[PlatformSpec, Plan]) -> None:
    """ECS rejects a target group that no listener forwards to yet."""
    spec, plan = case
    for service in spec.public_services():
        (rule,) = sibling(plan, ecs_service(plan, service.name), LISTENER_RULE)
        assert rule.urn in ecs_service(plan, service.name).depends_on


def test_first_public_service_catches_all_paths_others_get_their_prefix(two_public: tuple[PlatformSpec, Plan]) -> None:
    _, plan = two_public
    rules = {}
    for name in ("web", "admin-console-long-name1"):
        (rule,) = sibling(plan, ecs_service(plan, name), LISTENER_RULE)
        rules[name] = (rule.inputs["priority"], rule.inputs["conditions"][0]["pathPattern"]["values"])
    assert rules["web"] == (50000, ["/*"])
    assert rules["admin-console-long-name1"] == (101, ["/admin-console-long-name1", "/admin-console-long-name1/*"])


def test_load_balancer_and_target_group_names_fit_in_32_characters(two_public: tuple[PlatformSpec, Plan]) -> None:
    _, plan = two_public
    names = [one(plan, LOAD_BALANCER).inputs["name"]] + [g.inputs["name"] for g in plan.of_type(TARGET_GROUP)]
    assert all(len(n) <= 32 for n in names), names
    assert len(set(names)) == len(names)


def test_access_logs_go_to_the_named_bucket_when_asked(default_plan: Plan) -> None:
    from payplat.model.parsing import parse_spec
    from payplat.program.plan import plan

    spec = parse_spec({"loadBalancer": {"accessLogs": {"bucket": "payments-alb-logs", "prefix": "prod/alb"}}}, name="p")
    alb = one(plan(spec, name="p", stack="ns-p"), LOAD_BALANCER).inputs
    assert alb["accessLogs"] == {"bucket": "payments-alb-logs", "prefix": "prod/alb", "enabled": True}
    assert "accessLogs" not in one(default_plan, LOAD_BALANCER).inputs  # off unless a bucket is named

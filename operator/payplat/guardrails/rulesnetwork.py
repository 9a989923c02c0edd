"""Built-in rules for the network and its edge: what may reach a payment platform, and
what it may reach.

Private subnets leave only through a NAT gateway, tasks sit in them without public IPs,
security groups have explicit, described rules and the default group allows nothing,
VPCs have flow logs, Cloud Map publishes the records services resolve, and the load
balancer serves HTTPS with TLS 1.3, drops invalid headers, logs access and resists
deletion. Kept apart because these rules read the same subnets, groups and listeners.
"""

from __future__ import annotations

from payplat.guardrails.findings import Severity
from payplat.guardrails.rulebook import (
    BALANCER,
    DEFAULT_SG,
    DISCOVERY,
    EGRESS,
    EIP,
    FLOW_LOG,
    INGRESS,
    LISTENER,
    ROUTE,
    ROUTE_ASSOCIATION,
    SECURITY_GROUP,
    SERVICE,
    SUBNET,
    VPC,
    PlanView,
    Problems,
    RuleSet,
)

TLS13_POLICY = "ELBSecurityPolicy-TLS13-"

PACK = RuleSet()


@PACK.rule(
    "private-egress-via-nat", Severity.HIGH, "Private subnets route 0.0.0.0/0 to a NAT gateway in the VPC domain"
)
def _private_egress(view: PlanView) -> Problems:
    nat_routes = {
        str(r.inputs.get("routeTableId"))
        for r in view.of(ROUTE)
        if r.inputs.get("destinationCidrBlock") == "0.0.0.0/0" and r.inputs.get("natGatewayId")
    }
    table_of = {str(a.inputs.get("subnetId")): str(a.inputs.get("routeTableId")) for a in view.of(ROUTE_ASSOCIATION)}
    for subnet in view.of(SUBNET):
        if (subnet.inputs.get("tags") or {}).get("payplat.io/tier") == "private" and table_of.get(
            str(getattr(subnet, "id", ""))
        ) not in nat_routes:
            yield (
                subnet,
                "routeTable",
                "the private subnet has no default route through a NAT gateway",
                "associate it with a route table whose 0.0.0.0/0 route targets a NAT gateway",
            )
    for eip in view.of(EIP):
        if eip.inputs.get("domain") != "vpc":
            yield eip, "domain", "the Elastic IP is not in the vpc domain", "set domain='vpc'"


@PACK.rule("explicit-egress", Severity.HIGH, "Every security group has explicit egress rules")
def _explicit_egress(view: PlanView) -> Problems:
    with_egress = {str(r.inputs.get("securityGroupId")) for r in view.of(EGRESS)}
    for group in view.of(SECURITY_GROUP):
        if "egress" in group.inputs or "ingress" in group.inputs:
            yield (
                group,
                "egress",
                "inline rules mixed with standalone rule resources fight each other",
                "declare rules only as SecurityGroupIngressRule/EgressRule resources",
            )
        elif str(getattr(group, "id", "")) not in with_egress:
            yield (
                group,
                "egress",
                "the group has no egress rule: the provider removed the default one",
                "add SecurityGroupEgressRule resources for what the group must reach",
            )


@PACK.rule("sg-rule-description", Severity.LOW, "Every security group rule has a description", "CKV_AWS_23")
def _sg_rule_description(view: PlanView) -> Problems:
    for item in [*view.of(INGRESS), *view.of(EGRESS), *view.of(SECURITY_GROUP)]:
        if not item.inputs.get("description"):
            yield item, "description", "no description", "say what the rule or group is for"


@PACK.rule("cloudmap-a-records", Severity.MEDIUM, "Cloud Map services publish MULTIVALUE A records with TTL 10")
def _cloudmap(view: PlanView) -> Problems:
    for service in view.of(DISCOVERY):
        config = service.inputs.get("dnsConfig") or {}
        records = config.get("dnsRecords") or []
        if (
            config.get("routingPolicy") != "MULTIVALUE"
            or not records
            or any(r.get("type") != "A" or r.get("ttl") != 10 for r in records)
        ):
            yield (
                service,
                "dnsConfig",
                "records are not MULTIVALUE A records with TTL 10",
                "dns_records=[{type: A, ttl: 10}], routing_policy MULTIVALUE",
            )


@PACK.rule("tasks-private", Severity.CRITICAL, "Tasks run in private subnets without public IPs", "CKV_AWS_333")
def _tasks_private(view: PlanView) -> Problems:
    private = {
        str(getattr(s, "id", ""))
        for s in view.of(SUBNET)
        if (s.inputs.get("tags") or {}).get("payplat.io/tier") == "private"
    }
    for service in view.of(SERVICE):
        network = service.inputs.get("networkConfiguration") or {}
        if network.get("assignPublicIp") is not False:
            yield (
                service,
                "networkConfiguration.assignPublicIp",
                "tasks get public IP addresses",
                "set assign_public_ip=False; tasks reach out through the NAT gateway",
            )
        outside = [s for s in network.get("subnets") or [] if s not in private]
        if outside or not network.get("subnets"):
            yield (
                service,
                "networkConfiguration.subnets",
                "tasks are placed outside the private subnets",
                "place tasks only in the platform's private subnets",
            )


@PACK.rule("vpc-flow-logs", Severity.MEDIUM, "Every VPC has flow logs", "CKV2_AWS_11")
def _flow_logs(view: PlanView) -> Problems:
    logged = {str(f.inputs.get("vpcId")) for f in view.of(FLOW_LOG)}
    for vpc in view.of(VPC):
        if str(getattr(vpc, "id", "")) not in logged:
            yield vpc, "flowLogs", "no flow logs: network traffic cannot be audited", "set spec.network.flowLogs: true"


@PACK.rule("default-sg-closed", Severity.MEDIUM, "The VPC's default security group allows nothing", "CKV2_AWS_12")
def _default_sg(view: PlanView) -> Problems:
    for group in view.of(DEFAULT_SG):
        if group.inputs.get("ingress") or group.inputs.get("egress"):
            yield group, "ingress", "the default security group has rules", "strip every rule from it"
    if view.of(VPC) and not view.of(DEFAULT_SG):
        yield (
            view.of(VPC)[0],
            "defaultSecurityGroup",
            "the default security group keeps AWS's allow rules",
            "manage it with DefaultSecurityGroup and no rules",
        )


@PACK.rule("alb-https", Severity.MEDIUM, "The load balancer serves HTTPS; HTTP only redirects", "CKV2_AWS_20")
def _alb_https(view: PlanView) -> Problems:
    for listener in view.of(LISTENER):
        actions = listener.inputs.get("defaultActions") or []
        if listener.inputs.get("protocol") == "HTTP" and not all(a.get("type") == "redirect" for a in actions):
            yield (
                listener,
                "protocol",
                "plain HTTP serves traffic (payment traffic unencrypted in transit)",
                "set spec.loadBalancer.certificateArn: HTTPS is served and HTTP redirects to it",
            )


@PACK.rule("alb-tls-policy", Severity.HIGH, "HTTPS listeners use the TLS 1.3 security policy", "CKV_AWS_103")
def _alb_tls(view: PlanView) -> Problems:
    for listener in view.of(LISTENER):
        if listener.inputs.get("protocol") == "HTTPS" and not str(listener.inputs.get("sslPolicy", "")).startswith(
            TLS13_POLICY
        ):
            yield (
                listener,
                "sslPolicy",
                "the TLS policy allows older protocols",
                "use ELBSecurityPolicy-TLS13-1-2-2021-06",
            )


PACK.must_be_true(
    "alb-drop-invalid-headers",
    Severity.MEDIUM,
    "The load balancer drops invalid headers",
    "CKV_AWS_131",
    BALANCER,
    "dropInvalidHeaderFields",
    "invalid headers reach the services (request smuggling)",
    "set drop_invalid_header_fields=True",
)


@PACK.rule("alb-access-logs", Severity.LOW, "The load balancer writes access logs", "CKV_AWS_91")
def _alb_logs(view: PlanView) -> Problems:
    for balancer in view.of(BALANCER):
        if not (balancer.inputs.get("accessLogs") or {}).get("enabled"):
            yield (
                balancer,
                "accessLogs",
                "no access logs: requests cannot be audited",
                "set spec.loadBalancer.accessLogs.bucket",
            )


PACK.must_be_true(
    "alb-deletion-protection",
    Severity.LOW,
    "The load balancer has deletion protection",
    "CKV_AWS_150",
    BALANCER,
    "enableDeletionProtection",
    "the load balancer can be deleted by one API call",
    "set spec.loadBalancer.deletionProtection: true (with deletionPolicy Retain)",
)

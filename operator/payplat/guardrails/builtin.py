"""The built-in policy pack: invariants every payplat plan must hold, over the planned
resources exactly as ``payplat plan`` records them.

The first group restates the ten ways an earlier attempt at this stack failed to deploy
(credentials as plain environment, unpinned images, components without outputs, private
subnets without a NAT route, log groups the key cannot serve, security groups without
egress, Cloud Map records, public tasks, autoscaling fighting the service, an execution
role reaching beyond the platform's secret) as checks on the plan, so a regression in the
program is caught before AWS sees it. The second group is what a platform team's scanner
runs; where checkov has a check for the same property, its id is cited (checkov has no
Pulumi scanner, so this is how those checks reach a Pulumi plan).

A valid spec plans clean against the first group; the spec still leaves room for some
findings (HTTP-only load balancers, writable root filesystems, short retention, secrets
pasted into environment values), which is what these rules are for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from payplat.guardrails.findings import Finding, Resource, Severity
from payplat.model.limits import CREDENTIAL_NAME

__all__ = ["RULES", "Rule", "evaluate_builtin"]

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

#: Values that are credentials whatever the variable is called.
CREDENTIAL_VALUE = re.compile(
    r"(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}"  # AWS access key ids
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"  # a URL with user:password@
    r"|\b(?:sk|rk)_live_[0-9A-Za-z]{10,}"  # Stripe live secret / restricted keys
    r"|\bgh[pousr]_[0-9A-Za-z]{30,}"  # GitHub tokens
    r"|\bxox[abpr]-[0-9A-Za-z-]{10,}"  # Slack tokens
    r"|\beyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]{8,}"  # JWTs
)
#: ``<secret ARN incl. the 6-character suffix>:<json key>::`` (version stage and id empty).
SECRET_REFERENCE = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}:[^:]+::$")
TLS13_POLICY = "ELBSecurityPolicy-TLS13-"
MIN_RETENTION_DAYS = 365


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


RULES: list[Rule] = []


Problems = Iterator[tuple[Resource | None, str, str, str]]


def rule(
    id_: str, severity: Severity, title: str, check: str | None = None
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

        RULES.append(Rule(id_, severity, title, check, evaluate))

    return register


def must_be_true(
    id_: str, severity: Severity, title: str, check: str | None, type_: str, field: str, message: str, fix: str
) -> None:
    """Register a rule that one boolean input of every resource of ``type_`` is true."""

    def evaluate(view: PlanView) -> Problems:
        for resource in view.of(type_):
            if resource.inputs.get(field) is not True:
                yield resource, field, message, fix

    rule(id_, severity, title, check)(evaluate)


def label(resource: Resource | None) -> str:
    return "platform" if resource is None else f"{resource.type} {resource.name}"


def evaluate_builtin(resources: Sequence[Resource]) -> list[Finding]:
    view = PlanView(resources)
    return [finding for item in RULES for finding in item.evaluate(view)]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _containers(view: PlanView) -> Iterator[tuple[Resource, int, dict[str, Any]]]:
    for task in view.of(TASK):
        for index, container in enumerate(_json(task.inputs.get("containerDefinitions")) or []):
            if isinstance(container, dict):
                yield task, index, container


def _statements(resource: Resource) -> Iterator[tuple[int, dict[str, Any]]]:
    document = _json(resource.inputs.get("policy")) or {}
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
        if isinstance(statement, dict):
            yield index, statement


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- the seed's ten failure classes


@rule("plain-credentials", Severity.CRITICAL, "No credential in a container's plain environment")
def _plain_credentials(view: PlanView) -> Problems:
    for task, index, container in _containers(view):
        for position, variable in enumerate(container.get("environment") or []):
            name, value = str(variable.get("name", "")), str(variable.get("value", ""))
            where = f"containerDefinitions[{index}].environment[{position}]"
            if CREDENTIAL_NAME.search(name):
                yield (
                    task,
                    f"{where}.name",
                    f"{name} looks like a credential and is a plain environment value",
                    "inject it from the database secret (spec.services[].secrets, valueFrom) instead",
                )
            elif CREDENTIAL_VALUE.search(value):
                yield (
                    task,
                    f"{where}.value",
                    f"the value of {name} looks like a credential (key, token or user:password URL)",
                    "move the credential to Secrets Manager and reference it with valueFrom",
                )


@rule("secret-reference", Severity.CRITICAL, "Secrets reach containers as valueFrom <secret ARN>:<key>::")
def _secret_reference(view: PlanView) -> Problems:
    platform_secrets = view.ids(SECRET)
    for task, index, container in _containers(view):
        for position, secret in enumerate(container.get("secrets") or []):
            value = str(secret.get("valueFrom", ""))
            where = f"containerDefinitions[{index}].secrets[{position}].valueFrom"
            if not SECRET_REFERENCE.match(value):
                yield (
                    task,
                    where,
                    f"{value!r} is not '<secret ARN>:<json key>::' (ECS refuses the task)",
                    "reference the full secret ARN with the JSON key and two trailing colons",
                )
            elif value.rsplit(":", 3)[0] not in platform_secrets:
                yield (
                    task,
                    where,
                    "the secret is not the platform's own database secret",
                    "reference only the platform's secret (spec.services[].secrets)",
                )


@rule("secret-version-first", Severity.HIGH, "Services that read the secret start after its first version")
def _secret_version_first(view: PlanView) -> Problems:
    versions = {r.urn for r in view.of(SECRET_VERSION)}
    with_secrets = {str(t.inputs.get("family")) for t, _, c in _containers(view) if c.get("secrets")}
    for service in view.of(SERVICE):
        family = str(service.inputs.get("taskDefinition", "")).rsplit("/", 1)[-1].rsplit(":", 1)[0]
        if family in with_secrets and not versions & set(getattr(service, "depends_on", []) or []):
            yield (
                service,
                "dependsOn",
                "the service may start tasks before the secret has a value",
                "make the service depend on the SecretVersion",
            )


@rule("pinned-image", Severity.CRITICAL, "Every container image is pinned by tag or digest, never latest")
def _pinned_image(view: PlanView) -> Problems:
    for task, index, container in _containers(view):
        image = str(container.get("image") or "")
        last = image.rsplit("/", 1)[-1]
        if not image or ("@sha256:" not in image and (":" not in last or last.endswith(":latest"))):
            yield (
                task,
                f"containerDefinitions[{index}].image",
                f"image {image!r} is not pinned",
                "use repo:tag (not latest) or repo@sha256:<digest>",
            )


@rule("component-outputs", Severity.MEDIUM, "Every payplat component registers its outputs")
def _component_outputs(view: PlanView) -> Problems:
    for resource in view.resources:
        if (
            not resource.custom
            and resource.type.startswith("payplat:")
            and getattr(resource, "registered_outputs", None) is None
        ):
            yield (
                resource,
                "registerOutputs",
                "the component never called register_outputs",
                "end the component's constructor with self.register_outputs({...})",
            )


@rule("private-egress-via-nat", Severity.HIGH, "Private subnets route 0.0.0.0/0 to a NAT gateway in the VPC domain")
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


@rule("log-group-encrypted", Severity.HIGH, "Every log group is encrypted with the platform's key", "CKV_AWS_158")
def _log_group_encrypted(view: PlanView) -> Problems:
    keys = view.ids(KEY)
    for group in view.of(LOG_GROUP):
        key = str(group.inputs.get("kmsKeyId") or "")
        if key.rsplit("/", 1)[-1] not in keys:
            yield (
                group,
                "kmsKeyId",
                "the log group is not encrypted with the platform's KMS key",
                "set kms_key_id to the platform key's ARN",
            )


@rule("kms-serves-logs", Severity.HIGH, "The key policy lets CloudWatch Logs of the region use the key")
def _kms_serves_logs(view: PlanView) -> Problems:
    for key in view.of(KEY):
        services = {
            str(p)
            for _, s in _statements(key)
            for p in _listed(
                (s.get("Principal") or {}).get("Service") if isinstance(s.get("Principal"), dict) else None
            )
        }
        if not any(re.fullmatch(r"logs\.[a-z0-9-]+\.amazonaws\.com", s) for s in services) and view.of(LOG_GROUP):
            yield (
                key,
                "policy",
                "no statement allows logs.<region>.amazonaws.com: encrypted log groups fail",
                "add a statement for the logs service principal conditioned on the log group ARN",
            )


must_be_true(
    "kms-rotation",
    Severity.HIGH,
    "KMS keys rotate",
    "CKV_AWS_7",
    KEY,
    "enableKeyRotation",
    "key rotation is off",
    "set enable_key_rotation=True",
)


@rule("explicit-egress", Severity.HIGH, "Every security group has explicit egress rules")
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


@rule("sg-rule-description", Severity.LOW, "Every security group rule has a description", "CKV_AWS_23")
def _sg_rule_description(view: PlanView) -> Problems:
    for item in [*view.of(INGRESS), *view.of(EGRESS), *view.of(SECURITY_GROUP)]:
        if not item.inputs.get("description"):
            yield item, "description", "no description", "say what the rule or group is for"


@rule("cloudmap-a-records", Severity.MEDIUM, "Cloud Map services publish MULTIVALUE A records with TTL 10")
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


@rule("tasks-private", Severity.CRITICAL, "Tasks run in private subnets without public IPs", "CKV_AWS_333")
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


@rule(
    "scaling-target-tracking", Severity.MEDIUM, "Autoscaling tracks targets and the service leaves desiredCount to it"
)
def _scaling(view: PlanView) -> Problems:
    for policy in view.of(SCALING_POLICY):
        if policy.inputs.get("policyType") != "TargetTrackingScaling":
            yield (
                policy,
                "policyType",
                "not a target tracking policy (the default is StepScaling)",
                "set policy_type='TargetTrackingScaling'",
            )
    if view.of(SCALING_POLICY):
        for service in view.of(SERVICE):
            if "desiredCount" not in (getattr(service, "ignore_changes", ()) or ()) and "desired_count" not in (
                getattr(service, "ignore_changes", ()) or ()
            ):
                yield (
                    service,
                    "ignoreChanges",
                    "every update would reset the autoscaler's desiredCount",
                    "add ignore_changes=['desired_count'] to the service",
                )


@rule("execution-secret-scope", Severity.CRITICAL, "Secret access is scoped to the platform's own secret and key")
def _execution_secret_scope(view: PlanView) -> Problems:
    secrets = view.ids(SECRET)
    keys = view.ids(KEY)
    for policy in view.of(ROLE_POLICY):
        for index, statement in _statements(policy):
            actions = [str(a) for a in _listed(statement.get("Action"))]
            resources = [str(r) for r in _listed(statement.get("Resource"))]
            if any(a.lower().startswith("secretsmanager:") for a in actions) and not set(resources) <= secrets:
                yield (
                    policy,
                    f"policy.Statement[{index}].Resource",
                    "secret access reaches beyond the platform's secret (or names a ':key::' reference)",
                    "list only the platform secret's bare ARN",
                )
            if "kms:Decrypt" in actions and not {r.rsplit("/", 1)[-1] for r in resources} <= keys:
                yield (
                    policy,
                    f"policy.Statement[{index}].Resource",
                    "kms:Decrypt reaches beyond the platform's key",
                    "list only the platform key's ARN",
                )


# --------------------------------------------------------------------------- a platform team's scanner


@rule("iam-no-wildcard-actions", Severity.HIGH, "IAM policies name their actions", "CKV_AWS_63")
def _iam_wildcards(view: PlanView) -> Problems:
    for policy in view.of(ROLE_POLICY):
        for index, statement in _statements(policy):
            if statement.get("Effect", "Allow") == "Allow" and any(
                str(a) == "*" or str(a).endswith(":*") for a in _listed(statement.get("Action"))
            ):
                yield policy, f"policy.Statement[{index}].Action", "a wildcard action", "list the actions needed"


@rule("alb-https", Severity.MEDIUM, "The load balancer serves HTTPS; HTTP only redirects", "CKV2_AWS_20")
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


@rule("alb-tls-policy", Severity.HIGH, "HTTPS listeners use the TLS 1.3 security policy", "CKV_AWS_103")
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


must_be_true(
    "alb-drop-invalid-headers",
    Severity.MEDIUM,
    "The load balancer drops invalid headers",
    "CKV_AWS_131",
    BALANCER,
    "dropInvalidHeaderFields",
    "invalid headers reach the services (request smuggling)",
    "set drop_invalid_header_fields=True",
)


@rule("alb-access-logs", Severity.LOW, "The load balancer writes access logs", "CKV_AWS_91")
def _alb_logs(view: PlanView) -> Problems:
    for balancer in view.of(BALANCER):
        if not (balancer.inputs.get("accessLogs") or {}).get("enabled"):
            yield (
                balancer,
                "accessLogs",
                "no access logs: requests cannot be audited",
                "set spec.loadBalancer.accessLogs.bucket",
            )


must_be_true(
    "alb-deletion-protection",
    Severity.LOW,
    "The load balancer has deletion protection",
    "CKV_AWS_150",
    BALANCER,
    "enableDeletionProtection",
    "the load balancer can be deleted by one API call",
    "set spec.loadBalancer.deletionProtection: true (with deletionPolicy Retain)",
)


@rule("vpc-flow-logs", Severity.MEDIUM, "Every VPC has flow logs", "CKV2_AWS_11")
def _flow_logs(view: PlanView) -> Problems:
    logged = {str(f.inputs.get("vpcId")) for f in view.of(FLOW_LOG)}
    for vpc in view.of(VPC):
        if str(getattr(vpc, "id", "")) not in logged:
            yield vpc, "flowLogs", "no flow logs: network traffic cannot be audited", "set spec.network.flowLogs: true"


@rule("default-sg-closed", Severity.MEDIUM, "The VPC's default security group allows nothing", "CKV2_AWS_12")
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


@rule("readonly-root-filesystem", Severity.MEDIUM, "Containers have a read-only root filesystem", "CKV_AWS_336")
def _readonly_root(view: PlanView) -> Problems:
    for task, index, container in _containers(view):
        if container.get("readonlyRootFilesystem") is not True:
            yield (
                task,
                f"containerDefinitions[{index}].readonlyRootFilesystem",
                "the root filesystem is writable",
                "set spec.services[].readOnlyRootFilesystem: true (a writable /tmp is always mounted)",
            )


@rule("non-root-unprivileged", Severity.HIGH, "Containers run as a non-root user, unprivileged")
def _non_root(view: PlanView) -> Problems:
    for task, index, container in _containers(view):
        user = str(container.get("user") or "")
        if not user or re.match(r"^(0+|root)(:|$)", user):
            yield (
                task,
                f"containerDefinitions[{index}].user",
                f"runs as root ({user or 'image default'})",
                "set spec.services[].user to a non-zero UID",
            )
        if container.get("privileged"):
            yield task, f"containerDefinitions[{index}].privileged", "a privileged container", "remove privileged"


@rule("separate-task-roles", Severity.HIGH, "Task and execution roles are separate", "CKV_AWS_249")
def _separate_roles(view: PlanView) -> Problems:
    for task in view.of(TASK):
        if task.inputs.get("taskRoleArn") and task.inputs.get("taskRoleArn") == task.inputs.get("executionRoleArn"):
            yield (
                task,
                "taskRoleArn",
                "the task runs with its execution role's permissions",
                "give each service its own task role",
            )


@rule("ecs-container-insights", Severity.LOW, "ECS clusters have Container Insights", "CKV_AWS_65")
def _insights(view: PlanView) -> Problems:
    for cluster in view.of(CLUSTER):
        settings = {s.get("name"): s.get("value") for s in cluster.inputs.get("settings") or []}
        if settings.get("containerInsights") not in ("enabled", "enhanced"):
            yield cluster, "settings", "Container Insights is off", "enable containerInsights"


@rule("ecs-exec-off", Severity.MEDIUM, "ECS Exec is off (no shell into payment workloads)")
def _exec_off(view: PlanView) -> Problems:
    for service in view.of(SERVICE):
        if service.inputs.get("enableExecuteCommand"):
            yield service, "enableExecuteCommand", "ECS Exec is on", "set enable_execute_command=False"


@rule("log-retention", Severity.LOW, "Log groups keep logs for at least a year", "CKV_AWS_338")
def _retention(view: PlanView) -> Problems:
    for group in view.of(LOG_GROUP):
        days = group.inputs.get("retentionInDays")
        if not days:
            yield (
                group,
                "retentionInDays",
                "logs are kept forever, unbudgeted (CKV_AWS_66)",
                "set spec.logs.retentionDays",
            )
        elif int(days) < MIN_RETENTION_DAYS:
            yield (
                group,
                "retentionInDays",
                f"{days} days is less than the year audits ask for",
                f"set spec.logs.retentionDays to {MIN_RETENTION_DAYS} or more",
            )


@rule("secret-cmk", Severity.HIGH, "Secrets are encrypted with the platform's customer-managed key", "CKV_AWS_149")
def _secret_cmk(view: PlanView) -> Problems:
    keys = view.ids(KEY)
    for secret in view.of(SECRET):
        if str(secret.inputs.get("kmsKeyId") or "").rsplit("/", 1)[-1] not in keys:
            yield secret, "kmsKeyId", "the secret uses the AWS-managed key", "set kms_key_id to the platform key"

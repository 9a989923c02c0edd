"""One Fargate service of the platform, with everything that belongs to it alone.

Its own log group, task role and security group; a Cloud Map record so peers find it;
for public services a target group and a routing rule on the shared listener. The ECS
service waits for the secret's first version, the execution role's grants and (public)
its routing rule: without them tasks fail to start or the target group is not yet
attached to the load balancer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from payplat.model.spec import ServiceSpec
from payplat.program.containers import TMP_VOLUME, container_definition
from payplat.program.context import Account, child
from payplat.program.logs import encrypted_log_group
from payplat.program.naming import IAM_PATH, LIMITS, PlatformNames
from payplat.program.roles import ecs_task_trust

__all__ = ["CATCH_ALL_PRIORITY", "FARGATE_PLATFORM_VERSION", "FargateService", "FargateServiceArgs", "Routing"]

#: JSON-key ``valueFrom`` secrets need platform 1.4.0 or later.
FARGATE_PLATFORM_VERSION = "1.4.0"
#: The first public service takes every path no other public service claims.
CATCH_ALL_PRIORITY = 50000
HEALTH_CHECK_GRACE_SECONDS = 60


@dataclass(frozen=True)
class Routing:
    """Where a public service sits on the load balancer."""

    listener_arn: pulumi.Input[str]
    alb_security_group_id: pulumi.Input[str]
    #: Listener rule priority; ``CATCH_ALL_PRIORITY`` routes ``/*``, others ``/<name>`` and ``/<name>/*``.
    priority: int


@dataclass(frozen=True)
class FargateServiceArgs:
    spec: ServiceSpec
    suffix: str
    account: Account
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[list[str]]
    cluster_arn: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    namespace_id: pulumi.Input[str]
    namespace_name: pulumi.Input[str]
    peer_security_group_id: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    secret_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    retention_days: int
    #: Resources the ECS service must wait for (secret version, execution role grants).
    prerequisites: tuple[pulumi.Resource, ...]
    routing: Routing | None = None


class FargateService(pulumi.ComponentResource):
    service_name: pulumi.Output[str]
    discovery_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: FargateServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payplat:index:FargateService", name, None, opts)
        spec = args.spec
        if spec.public != (args.routing is not None):
            raise ValueError(f"service {spec.name}: public services need routing, private ones must not have it")
        names = PlatformNames(args.suffix)
        full_name = names.service(spec.name, limit=LIMITS["ecs"])

        self.log_group = encrypted_log_group(
            f"{name}-logs",
            parent=self,
            name=names.service_log_group(spec.name),
            key_arn=args.key_arn,
            retention_days=args.retention_days,
        )
        self.task_role = aws.iam.Role(
            f"{name}-task-role",
            name=names.task_role(spec.name),
            path=IAM_PATH,
            description=f"Application role of {spec.name} (no permissions unless granted explicitly)",
            assume_role_policy=ecs_task_trust(args.account),
            opts=child(self),
        )
        self.security_group = self._security_group(name, full_name, args)
        self.discovery = aws.servicediscovery.Service(
            f"{name}-discovery",
            name=spec.name,
            dns_config={
                "namespace_id": args.namespace_id,
                "routing_policy": "MULTIVALUE",
                "dns_records": [{"ttl": 10, "type": "A"}],
            },
            health_check_custom_config={},
            opts=child(self),
        )
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=names.task_family(spec.name),
            cpu=str(spec.cpu),
            memory=str(spec.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            execution_role_arn=args.execution_role_arn,
            task_role_arn=self.task_role.arn,
            volumes=[{"name": TMP_VOLUME}],
            container_definitions=pulumi.Output.json_dumps(
                [
                    pulumi.Output.all(args.secret_arn, self.log_group.name).apply(
                        lambda v: container_definition(
                            spec, secret_arn=v[0], log_group=v[1], region=args.account.region
                        )
                    )
                ]
            ),
            opts=child(self),
        )
        waits_for = list(args.prerequisites)
        load_balancers: list[aws.ecs.ServiceLoadBalancerArgsDict] | None = None
        if args.routing is not None:
            self.target_group, rule = self._route(name, full_name, args, args.routing)
            waits_for.append(rule)
            load_balancers = [
                {"target_group_arn": self.target_group.arn, "container_name": spec.name, "container_port": spec.port}
            ]
        self.service = aws.ecs.Service(
            f"{name}-service",
            name=spec.name,
            cluster=args.cluster_arn,
            task_definition=self.task_definition.arn,
            desired_count=spec.desired_count,
            launch_type="FARGATE",
            platform_version=FARGATE_PLATFORM_VERSION,
            network_configuration={
                "subnets": args.private_subnet_ids,
                "security_groups": [self.security_group.id, args.peer_security_group_id],
                "assign_public_ip": False,
            },
            service_registries={"registry_arn": self.discovery.arn},
            load_balancers=load_balancers,
            health_check_grace_period_seconds=HEALTH_CHECK_GRACE_SECONDS if spec.public else None,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            enable_execute_command=False,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            wait_for_steady_state=False,
            # The autoscaler owns the task count after creation.
            opts=child(self, depends_on=waits_for, ignore_changes=["desired_count"]),
        )
        self._autoscaling(name, full_name, args)

        self.service_name = self.service.name
        self.discovery_name = pulumi.Output.concat(self.discovery.name, ".", args.namespace_name)
        self.log_group_name = self.log_group.name
        self.register_outputs(
            {"serviceName": self.service_name, "discoveryName": self.discovery_name, "logGroup": self.log_group_name}
        )

    def _security_group(self, name: str, full_name: str, args: FargateServiceArgs) -> aws.ec2.SecurityGroup:
        spec = args.spec
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            name=PlatformNames(args.suffix).service_security_group(spec.name),
            description=f"payplat {spec.name} tasks",
            vpc_id=args.vpc_id,
            tags={"Name": full_name},
            opts=child(self),
        )
        source, what = (
            (args.routing.alb_security_group_id, "the load balancer")
            if args.routing is not None
            else (args.peer_security_group_id, "platform services (Cloud Map)")
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-in",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=spec.port,
            to_port=spec.port,
            referenced_security_group_id=source,
            description=f"{spec.name} port {spec.port} from {what}",
            opts=child(self),
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-out-https",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="HTTPS through NAT: image pulls, Secrets Manager, CloudWatch Logs",
            opts=child(self),
        )
        if args.routing is not None:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-alb-out",
                security_group_id=args.routing.alb_security_group_id,
                ip_protocol="tcp",
                from_port=spec.port,
                to_port=spec.port,
                referenced_security_group_id=group.id,
                description=f"load balancer to {spec.name} tasks on {spec.port}",
                opts=child(self),
            )
        return group

    def _route(
        self, name: str, full_name: str, args: FargateServiceArgs, routing: Routing
    ) -> tuple[aws.lb.TargetGroup, aws.lb.ListenerRule]:
        spec = args.spec
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            name=PlatformNames(args.suffix).target_group(spec.name),
            port=spec.port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check={
                "enabled": True,
                "path": spec.health_check_path,
                "protocol": "HTTP",
                "matcher": "200-399",
                "interval": 30,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            opts=child(self),
        )
        paths = ["/*"] if routing.priority == CATCH_ALL_PRIORITY else [f"/{spec.name}", f"/{spec.name}/*"]
        rule = aws.lb.ListenerRule(
            f"{name}-rule",
            listener_arn=routing.listener_arn,
            priority=routing.priority,
            actions=[{"type": "forward", "target_group_arn": target_group.arn}],
            conditions=[{"path_pattern": {"values": paths}}],
            opts=child(self),
        )
        return target_group, rule

    def _autoscaling(self, name: str, full_name: str, args: FargateServiceArgs) -> None:
        scaling = args.spec.scaling
        target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", self.service.name),
            min_capacity=scaling.min,
            max_capacity=scaling.max,
            opts=child(self),
        )
        for metric, value in (
            ("cpu", ("ECSServiceAverageCPUUtilization", scaling.cpu_target)),
            ("memory", ("ECSServiceAverageMemoryUtilization", scaling.memory_target)),
        ):
            aws.appautoscaling.Policy(
                f"{name}-scale-{metric}",
                name=PlatformNames(args.suffix).scaling_policy(args.spec.name, metric),
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration={
                    "predefined_metric_specification": {"predefined_metric_type": value[0]},
                    "target_value": value[1],
                    "scale_in_cooldown": 300,
                    "scale_out_cooldown": 60,
                },
                opts=child(self),
            )

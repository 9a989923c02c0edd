"""The ECS cluster, the Cloud Map namespace its services register in, and the shared
"peers" security group that lets services call each other's private endpoints."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from payplat.program.context import child
from payplat.program.naming import PlatformNames

__all__ = ["Cluster", "ClusterArgs"]


@dataclass(frozen=True)
class ClusterArgs:
    suffix: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    #: Ports of the private services: peers may call them, and nothing else, inside the VPC.
    peer_ports: tuple[int, ...]
    database_port: int


class Cluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    namespace_id: pulumi.Output[str]
    namespace_name: pulumi.Output[str]
    #: Attached to every task: private services accept traffic from this group only.
    peer_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payplat:index:Cluster", name, None, opts)
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=PlatformNames(args.suffix).cluster(),
            settings=[{"name": "containerInsights", "value": "enabled"}],
            opts=child(self),
        )
        self.namespace = aws.servicediscovery.PrivateDnsNamespace(
            f"{name}-namespace",
            name=PlatformNames(args.suffix).discovery_namespace(),
            description="Service discovery for the payment platform's services",
            vpc=args.vpc_id,
            opts=child(self),
        )
        self.peers = aws.ec2.SecurityGroup(
            f"{name}-peers-sg",
            name=PlatformNames(args.suffix).peers_security_group(),
            description="payplat tasks: lets services call each other through Cloud Map",
            vpc_id=args.vpc_id,
            tags={"Name": f"{args.suffix}-service-peers"},
            opts=child(self),
        )
        for port in sorted({*args.peer_ports, args.database_port}):
            what = "the database" if port == args.database_port and port not in args.peer_ports else "private services"
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-peers-out-{port}",
                security_group_id=self.peers.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=args.vpc_cidr,
                description=f"to {what} on {port} inside the VPC",
                opts=child(self),
            )
        self.cluster_name = self.cluster.name
        self.cluster_arn = self.cluster.arn
        self.namespace_id = self.namespace.id
        self.namespace_name = self.namespace.name
        self.peer_security_group_id = self.peers.id
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "clusterArn": self.cluster_arn,
                "namespaceName": self.namespace_name,
                "peerSecurityGroupId": self.peer_security_group_id,
            }
        )

"""``PaymentPlatform``: the whole AWS stack of one PaymentPlatform resource.

It owns an explicit AWS provider (region and optional assumed role from the spec), so the
same program behaves identically under the Automation API and under the plan's mocks,
whatever the ambient ``aws:region`` config says. Children are built in dependency order:
key -> network -> secret and execution role -> load balancer and cluster -> services.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from payplat.model.spec import PlatformSpec
from payplat.model.tenancy import assume_role_session
from payplat.program.cluster import Cluster, ClusterArgs
from payplat.program.context import Account
from payplat.program.credentials import DatabaseSecret, DatabaseSecretArgs
from payplat.program.encryption import Encryption, EncryptionArgs
from payplat.program.loadbalancer import LoadBalancer, LoadBalancerArgs
from payplat.program.network import Network, NetworkArgs
from payplat.program.policies import partition_of
from payplat.program.roles import ExecutionRole, ExecutionRoleArgs
from payplat.program.service import CATCH_ALL_PRIORITY, FargateService, FargateServiceArgs, Routing
from payplat.program.stackkeys import ROOT_TYPE
from payplat.program.tagging import platform_tags, tag_transformation

__all__ = ["PaymentPlatform", "PaymentPlatformArgs", "assume_roles", "listener_priorities"]


def assume_roles(role_arn: str | None, namespace: str, name: str) -> list[aws.ProviderAssumeRoleArgs] | None:
    """The provider's ``assumeRoles``, typed: plain snake_case dicts reach the provider
    unconverted and it fails with "IAM Role ARN not set" (pulumi/pulumi-aws#5271). The
    session carries the tenant (``tenancy.assume_role_session``)."""
    if not role_arn:
        return None
    session = assume_role_session(namespace, name)
    return [
        aws.ProviderAssumeRoleArgs(
            role_arn=role_arn, session_name=session.session_name, external_id=session.external_id, tags=session.tags
        )
    ]


@dataclass(frozen=True)
class PaymentPlatformArgs:
    spec: PlatformSpec
    #: The PaymentPlatform's metadata.name.
    name: str
    #: Its metadata.namespace: with the name, the owner of every AWS name (``identity``).
    namespace: str


def listener_priorities(spec: PlatformSpec) -> dict[str, int]:
    """Listener rule priority per public service: the first public service catches all
    paths; the others get ``100 + <index in spec.services>``, so adding or removing a
    service never renumbers (and so never replaces) another service's rule."""
    public = spec.public_services()
    return {
        service.name: CATCH_ALL_PRIORITY if service is public[0] else 100 + index
        for index, service in enumerate(spec.services)
        if service.public
    }


class PaymentPlatform(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    alb_dns_name: pulumi.Output[str]
    alb_url: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    namespace_name: pulumi.Output[str]
    services: dict[str, FargateService]

    def __init__(self, name: str, args: PaymentPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ROOT_TYPE, name, None, opts)
        spec = args.spec
        suffix = spec.suffix(args.namespace, args.name)
        self.provider = aws.Provider(
            f"{name}-aws",
            region=spec.region,
            assume_roles=assume_roles(spec.assume_role_arn, args.namespace, args.name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        tags = platform_tags(spec.tags, args.namespace, args.name, suffix)
        opts_for_children = pulumi.ResourceOptions(
            parent=self, providers={"aws": self.provider}, transformations=[tag_transformation(tags)]
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self, provider=self.provider))
        account = Account(id=identity.account_id, partition=identity.arn.apply(partition_of), region=spec.region)
        retention = spec.logs.retention_days

        encryption = Encryption(name, EncryptionArgs(suffix=suffix, account=account), opts_for_children)
        network = Network(
            name,
            NetworkArgs(
                spec=spec.network, suffix=suffix, account=account, key_arn=encryption.key_arn, retention_days=retention
            ),
            opts_for_children,
        )
        secret = DatabaseSecret(
            name, DatabaseSecretArgs(spec=spec.database, suffix=suffix, key_arn=encryption.key_arn), opts_for_children
        )
        execution = ExecutionRole(
            name,
            ExecutionRoleArgs(suffix=suffix, account=account, secret_arn=secret.secret_arn, key_arn=encryption.key_arn),
            opts_for_children,
        )
        balancer = LoadBalancer(
            name,
            LoadBalancerArgs(
                spec=spec.load_balancer,
                suffix=suffix,
                vpc_id=network.vpc_id,
                public_subnet_ids=network.public_subnet_ids,
            ),
            opts_for_children,
        )
        cluster = Cluster(
            name,
            ClusterArgs(
                suffix=suffix,
                vpc_id=network.vpc_id,
                vpc_cidr=network.vpc_cidr,
                peer_ports=tuple(sorted({s.port for s in spec.services if not s.public})),
                database_port=spec.database.port,
            ),
            opts_for_children,
        )
        priorities = listener_priorities(spec)
        self.services = {
            service.name: FargateService(
                f"{name}-{service.name}",
                FargateServiceArgs(
                    spec=service,
                    suffix=suffix,
                    account=account,
                    vpc_id=network.vpc_id,
                    private_subnet_ids=network.private_subnet_ids,
                    cluster_arn=cluster.cluster_arn,
                    cluster_name=cluster.cluster_name,
                    namespace_id=cluster.namespace_id,
                    namespace_name=cluster.namespace_name,
                    peer_security_group_id=cluster.peer_security_group_id,
                    execution_role_arn=execution.role_arn,
                    secret_arn=secret.secret_arn,
                    key_arn=encryption.key_arn,
                    retention_days=retention,
                    prerequisites=(secret.version, *execution.grants),
                    routing=Routing(
                        listener_arn=balancer.listener.arn,
                        alb_security_group_id=balancer.security_group_id,
                        priority=priorities[service.name],
                    )
                    if service.public
                    else None,
                ),
                opts_for_children,
            )
            for service in spec.services
        }

        self.vpc_id = network.vpc_id
        self.public_subnet_ids = network.public_subnet_ids
        self.private_subnet_ids = network.private_subnet_ids
        self.cluster_name = cluster.cluster_name
        self.cluster_arn = cluster.cluster_arn
        self.alb_dns_name = balancer.dns_name
        self.alb_url = balancer.url
        self.kms_key_arn = encryption.key_arn
        self.secret_arn = secret.secret_arn
        self.database_password = secret.password  # secret Output; exported for the engines only
        self.namespace_name = cluster.namespace_name
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, object]:
        """The stack outputs (camelCase), the contract the operator's status writer reads."""
        return {
            "vpcId": self.vpc_id,
            "publicSubnetIds": self.public_subnet_ids,
            "privateSubnetIds": self.private_subnet_ids,
            "clusterName": self.cluster_name,
            "clusterArn": self.cluster_arn,
            "albDnsName": self.alb_dns_name,
            "albUrl": self.alb_url,
            "kmsKeyArn": self.kms_key_arn,
            "secretArn": self.secret_arn,
            "namespaceName": self.namespace_name,
            "services": {
                name: {
                    "serviceName": service.service_name,
                    "discoveryName": service.discovery_name,
                    "logGroup": service.log_group_name,
                }
                for name, service in self.services.items()
            },
        }

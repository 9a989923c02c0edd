"""The VPC: public subnets for the load balancer, private subnets for tasks, NAT for egress.

Private subnets never assign public IPs; tasks there reach ECR, Secrets Manager and
CloudWatch Logs through a NAT gateway (one, or one per zone, as the spec says). The
default security group is adopted and stripped of its rules, and every flow is logged
to a KMS-encrypted log group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from payplat.model.parts import NatGateways, NetworkSpec
from payplat.program.context import Account, child
from payplat.program.logs import encrypted_log_group
from payplat.program.naming import IAM_PATH, PlatformNames, subnet_cidrs
from payplat.program.policies import assume_role_policy, flow_logs_policy

__all__ = ["Network", "NetworkArgs"]


@dataclass(frozen=True)
class NetworkArgs:
    spec: NetworkSpec
    suffix: str
    account: Account
    key_arn: pulumi.Input[str]
    retention_days: int


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payplat:index:Network", name, None, opts)
        spec, suffix = args.spec, args.suffix
        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self)).names
        public_cidrs, private_cidrs = subnet_cidrs(spec.cidr, spec.availability_zones)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=spec.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": f"{suffix}-vpc"},
            opts=child(self),
        )
        # Adopting the default security group with no rules strips the allow-all it comes with.
        self.default_security_group = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, tags={"Name": f"{suffix}-default-deny"}, opts=child(self)
        )
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": f"{suffix}-igw"}, opts=child(self)
        )
        self.public_subnets = [
            self._subnet(name, suffix, "public", index, cidr, zones) for index, cidr in enumerate(public_cidrs)
        ]
        self.private_subnets = [
            self._subnet(name, suffix, "private", index, cidr, zones) for index, cidr in enumerate(private_cidrs)
        ]
        self._public_routes(name, suffix)
        self.nat_gateways = self._nat_gateways(name, suffix, spec.nat_gateways)
        self._private_routes(name, suffix)
        if spec.flow_logs:
            self._flow_logs(name, args)

        self.vpc_id = self.vpc.id
        self.vpc_cidr = spec.cidr
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in self.public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in self.private_subnets])
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "natGatewayIds": pulumi.Output.all(*[n.id for n in self.nat_gateways]),
            }
        )

    def _subnet(
        self, name: str, suffix: str, tier: str, index: int, cidr: str, zones: pulumi.Output[list[str]]
    ) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            f"{name}-{tier}-{index}",
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=zones.apply(lambda names: names[index]),
            # Neither tier hands out public IPs: the ALB gets its own, tasks stay private.
            map_public_ip_on_launch=False,
            tags={"Name": f"{suffix}-{tier}-{index}", "payplat.io/tier": tier},
            opts=child(self),
        )

    def _public_routes(self, name: str, suffix: str) -> None:
        table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags={"Name": f"{suffix}-public"}, opts=child(self)
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
            opts=child(self),
        )
        for index, subnet in enumerate(self.public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}-rta", route_table_id=table.id, subnet_id=subnet.id, opts=child(self)
            )

    def _nat_gateways(self, name: str, suffix: str, mode: NatGateways) -> list[aws.ec2.NatGateway]:
        count = len(self.public_subnets) if mode is NatGateways.PER_AZ else 1
        gateways = []
        for index in range(count):
            eip = aws.ec2.Eip(
                f"{name}-nat-eip-{index}", domain="vpc", tags={"Name": f"{suffix}-nat-{index}"}, opts=child(self)
            )
            gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{index}",
                    allocation_id=eip.allocation_id,
                    subnet_id=self.public_subnets[index].id,
                    connectivity_type="public",
                    tags={"Name": f"{suffix}-nat-{index}"},
                    # AWS needs the internet gateway attached before a public NAT works.
                    opts=child(self, depends_on=[self.internet_gateway]),
                )
            )
        return gateways

    def _private_routes(self, name: str, suffix: str) -> None:
        for index, subnet in enumerate(self.private_subnets):
            nat = self.nat_gateways[index % len(self.nat_gateways)]
            table = aws.ec2.RouteTable(
                f"{name}-private-{index}-rt",
                vpc_id=self.vpc.id,
                tags={"Name": f"{suffix}-private-{index}"},
                opts=child(self),
            )
            aws.ec2.Route(
                f"{name}-private-{index}-default",
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}-rta", route_table_id=table.id, subnet_id=subnet.id, opts=child(self)
            )

    def _flow_logs(self, name: str, args: NetworkArgs) -> None:
        log_group = encrypted_log_group(
            f"{name}-flow-logs",
            parent=self,
            name=PlatformNames(args.suffix).flow_log_group(),
            key_arn=args.key_arn,
            retention_days=args.retention_days,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            name=PlatformNames(args.suffix).flow_logs_role(),
            path=IAM_PATH,
            assume_role_policy=args.account.id.apply(
                lambda account: json.dumps(assume_role_policy("vpc-flow-logs.amazonaws.com", account))
            ),
            opts=child(self),
        )
        policy = aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=role.id,
            name="write-flow-logs",
            policy=log_group.arn.apply(lambda arn: json.dumps(flow_logs_policy(arn))),
            opts=child(self),
        )
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=child(self, depends_on=[policy]),
        )

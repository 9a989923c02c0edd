"""Which input changes make AWS replace a resource (``ForceNew`` in pulumi-aws).

One table for everything that must agree on it: the offline engine plans a replacement
where the real provider would, the stand-in provider (``payplat_dev.standin``) answers
the Pulumi CLI's ``Diff`` with the same keys, and change control (``payplat.controller.changecontrol``)
reads the replacements both engines report. Keys are Pulumi input names (camelCase).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ALL_BUT_TAGS", "FORCE_NEW", "replace_keys"]

#: Every input but the tags forces a replacement (an immutable resource, e.g. an ECS task definition revision).
ALL_BUT_TAGS = "*"
_TAG_KEYS = frozenset({"tags", "tagsAll"})

#: Inputs whose change makes AWS replace the resource (``ForceNew`` in pulumi-aws).
FORCE_NEW: dict[str, frozenset[str]] = {
    "aws:ec2/vpc:Vpc": frozenset({"cidrBlock", "instanceTenancy"}),
    "aws:ec2/subnet:Subnet": frozenset({"vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"}),
    "aws:ec2/eip:Eip": frozenset({"domain", "networkBorderGroup"}),
    "aws:ec2/natGateway:NatGateway": frozenset({"subnetId", "allocationId", "connectivityType"}),
    "aws:ec2/routeTable:RouteTable": frozenset({"vpcId"}),
    "aws:ec2/route:Route": frozenset({"routeTableId", "destinationCidrBlock", "destinationIpv6CidrBlock"}),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": frozenset({"subnetId", "gatewayId"}),
    "aws:ec2/securityGroup:SecurityGroup": frozenset({"name", "namePrefix", "description", "vpcId"}),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": frozenset({"vpcId"}),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": frozenset({"securityGroupId"}),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": frozenset({"securityGroupId"}),
    "aws:ec2/flowLog:FlowLog": frozenset(
        {
            "vpcId",
            "trafficType",
            "logDestination",
            "logDestinationType",
            "iamRoleArn",
            "logFormat",
            "maxAggregationInterval",
        }
    ),
    "aws:kms/key:Key": frozenset({"customerMasterKeySpec", "keyUsage", "multiRegion"}),
    "aws:kms/alias:Alias": frozenset({"name", "namePrefix"}),
    "aws:cloudwatch/logGroup:LogGroup": frozenset({"name", "namePrefix", "logGroupClass"}),
    "aws:iam/role:Role": frozenset({"name", "namePrefix", "path"}),
    "aws:iam/rolePolicy:RolePolicy": frozenset({"name", "namePrefix", "role"}),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": frozenset({"role", "policyArn"}),
    "aws:secretsmanager/secret:Secret": frozenset({"name", "namePrefix"}),
    "aws:secretsmanager/secretVersion:SecretVersion": frozenset({"secretId", "secretString", "secretBinary"}),
    "aws:lb/loadBalancer:LoadBalancer": frozenset({"name", "namePrefix", "internal", "loadBalancerType"}),
    "aws:lb/targetGroup:TargetGroup": frozenset(
        {"name", "namePrefix", "port", "protocol", "protocolVersion", "vpcId", "targetType"}
    ),
    "aws:lb/listener:Listener": frozenset({"loadBalancerArn"}),
    "aws:lb/listenerRule:ListenerRule": frozenset({"listenerArn"}),
    "aws:ecs/cluster:Cluster": frozenset({"name"}),
    "aws:ecs/taskDefinition:TaskDefinition": frozenset({ALL_BUT_TAGS}),  # revisions are immutable
    "aws:ecs/service:Service": frozenset({"name", "cluster", "launchType", "iamRole", "schedulingStrategy"}),
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": frozenset({"name", "vpc"}),
    "aws:servicediscovery/service:Service": frozenset({"name", "namespaceId"}),
    "aws:appautoscaling/target:Target": frozenset({"resourceId", "scalableDimension", "serviceNamespace"}),
    "aws:appautoscaling/policy:Policy": frozenset({"name", "resourceId", "scalableDimension", "serviceNamespace"}),
}


def replace_keys(type_: str, changed: Iterable[str]) -> list[str]:
    """The ``changed`` input keys of a ``type_`` resource that force its replacement, in order."""
    force = FORCE_NEW.get(type_, frozenset())
    if ALL_BUT_TAGS in force:
        return [key for key in changed if key not in _TAG_KEYS]
    return [key for key in changed if key in force]

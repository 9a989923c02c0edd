"""Pulumi mocks that answer like AWS would, so a whole plan resolves offline.

Every resource gets the id and computed outputs AWS would give it, in AWS's formats
(``vpc-0123...``, ``eipalloc-...``, ARNs with the account and region, load balancer DNS
names, the ``-AbCdEf`` suffix of secret ARNs), so every cross-reference in the program's
inputs resolves to a realistic value and nothing stays unknown. Ids are derived from the
resource's type and name, so the same program always plans to the same JSON.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

__all__ = ["ACCOUNT_ID", "PlatformMocks"]

ACCOUNT_ID = "123456789012"
PARTITION = "aws"

Outputs = dict[str, Any]


def _hex(seed: str, length: int = 17) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _uuid(seed: str) -> str:
    return str(uuid.UUID(hashlib.md5(seed.encode()).hexdigest()))  # an id, not security


def _alnum(seed: str, length: int) -> str:
    """Mixed-case letters, like the random suffix Secrets Manager adds to ARNs."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


class PlatformMocks(Mocks):
    """Answers resources and invokes for one account and region."""

    def __init__(self, *, region: str = "us-east-1", account_id: str = ACCOUNT_ID) -> None:
        self.region = region
        self.account_id = account_id
        self._outputs: dict[str, Callable[[str, Outputs, str], tuple[str, Outputs]]] = {
            "aws:ec2/vpc:Vpc": self._vpc,
            "aws:ec2/subnet:Subnet": self._prefixed("subnet", "ec2", "subnet"),
            "aws:ec2/internetGateway:InternetGateway": self._prefixed("igw", "ec2", "internet-gateway"),
            "aws:ec2/eip:Eip": self._eip,
            "aws:ec2/natGateway:NatGateway": self._nat,
            "aws:ec2/routeTable:RouteTable": self._prefixed("rtb", "ec2", "route-table"),
            "aws:ec2/route:Route": lambda seed, inputs, name: (f"r-{inputs.get('routeTableId', 'rtb')}1080289494", {}),
            "aws:ec2/routeTableAssociation:RouteTableAssociation": self._prefixed("rtbassoc", None, None),
            "aws:ec2/securityGroup:SecurityGroup": self._prefixed("sg", "ec2", "security-group"),
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": self._prefixed(
                "sg", "ec2", "security-group", {"name": "default"}
            ),
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": self._prefixed(
                "sgr", "ec2", "security-group-rule"
            ),
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": self._prefixed(
                "sgr", "ec2", "security-group-rule"
            ),
            "aws:ec2/flowLog:FlowLog": self._prefixed("fl", "ec2", "vpc-flow-log"),
            "aws:kms/key:Key": self._kms_key,
            "aws:kms/alias:Alias": lambda seed, inputs, name: (
                name,
                {"arn": self._arn("kms", name), "targetKeyArn": self._arn("kms", f"key/{inputs.get('targetKeyId')}")},
            ),
            "aws:cloudwatch/logGroup:LogGroup": lambda seed, inputs, name: (
                name,
                {"arn": self._arn("logs", f"log-group:{name}")},
            ),
            "aws:iam/role:Role": lambda seed, inputs, name: (
                name,
                {
                    "arn": self._arn("iam", f"role{inputs.get('path', '/')}{name}", regional=False),
                    "uniqueId": "AROA" + _hex(seed, 17).upper(),
                },
            ),
            "aws:iam/rolePolicy:RolePolicy": lambda seed, inputs, name: (f"{inputs.get('role')}:{name}", {}),
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment": lambda seed, inputs, name: (
                f"{inputs.get('role')}-{_hex(seed, 26)}",
                {},
            ),
            "aws:secretsmanager/secret:Secret": self._secret,
            "aws:secretsmanager/secretVersion:SecretVersion": self._secret_version,
            "aws:lb/loadBalancer:LoadBalancer": self._load_balancer,
            "aws:lb/targetGroup:TargetGroup": self._target_group,
            "aws:lb/listener:Listener": self._listener,
            "aws:lb/listenerRule:ListenerRule": self._listener_rule,
            "aws:ecs/cluster:Cluster": lambda seed, inputs, name: (
                arn := self._arn("ecs", f"cluster/{name}"),
                {"arn": arn},
            ),
            "aws:ecs/taskDefinition:TaskDefinition": self._task_definition,
            "aws:ecs/service:Service": self._ecs_service,
            "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": self._namespace,
            "aws:servicediscovery/service:Service": self._discovery_service,
            "aws:appautoscaling/target:Target": self._scaling_target,
            "aws:appautoscaling/policy:Policy": self._scaling_policy,
        }

    # ------------------------------------------------------------------ Mocks API

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return _uuid(f"{args.typ}|{args.name}"), inputs
        seed = f"{args.typ}|{args.name}"
        name = inputs.get("name") or f"{args.name}-{_hex(seed, 7)}"
        answer = self._outputs.get(args.typ, self._generic(args.typ))
        resource_id, computed = answer(seed, inputs, name)
        outputs: Outputs = {
            "name": name,
            "arn": self._arn(args.typ.split(":")[1].split("/")[0], f"{name}"),
            **inputs,
            **computed,
        }
        if "tags" in inputs:
            outputs["tagsAll"] = inputs["tags"]
        return resource_id, outputs

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:{PARTITION}:sts::{self.account_id}:assumed-role/payplat-operator/payplat",
                "userId": "AROAEXAMPLEOPERATOR:payplat",
                "id": self.account_id,
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
            }, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": PARTITION, "dnsSuffix": "amazonaws.com", "id": PARTITION}, []
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abcdef"
            return {
                "names": [f"{self.region}{c}" for c in letters],
                "zoneIds": [
                    f"{self.region[:2]}{self.region.split('-')[1][:1]}{self.region[-1]}-az{i + 1}"
                    for i in range(len(letters))
                ],
                "id": self.region,
                "groupNames": [self.region],
            }, []
        raise NotImplementedError(
            f"payplat mocks do not answer the invoke {args.token}: add it to payplat.program.mocks"
        )

    # ------------------------------------------------------------------ formats

    def _arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:{PARTITION}:{service}:{self.region if regional else ''}:{self.account_id}:{resource}"

    def _prefixed(
        self, prefix: str, service: str | None, kind: str | None, extra: Outputs | None = None
    ) -> Callable[[str, Outputs, str], tuple[str, Outputs]]:
        def answer(seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
            resource_id = f"{prefix}-{_hex(seed)}"
            computed: Outputs = dict(extra or {})
            if service and kind:
                computed["arn"] = self._arn(service, f"{kind}/{resource_id}")
            return resource_id, computed

        return answer

    def _generic(self, typ: str) -> Callable[[str, Outputs, str], tuple[str, Outputs]]:
        short = typ.rsplit(":", 1)[-1].lower()
        return lambda seed, inputs, name: (f"{short}-{_hex(seed)}", {})

    def _vpc(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        vpc_id = f"vpc-{_hex(seed)}"
        return vpc_id, {
            "arn": self._arn("ec2", f"vpc/{vpc_id}"),
            "defaultSecurityGroupId": f"sg-{_hex(seed + 'sg')}",
            "defaultNetworkAclId": f"acl-{_hex(seed + 'acl')}",
            "defaultRouteTableId": f"rtb-{_hex(seed + 'rtb')}",
            "mainRouteTableId": f"rtb-{_hex(seed + 'rtb')}",
            "ownerId": self.account_id,
        }

    def _eip(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        allocation = f"eipalloc-{_hex(seed)}"
        digest = hashlib.sha256(seed.encode()).digest()
        public_ip = f"3.{digest[0]}.{digest[1]}.{digest[2] or 1}"
        return allocation, {
            "allocationId": allocation,
            "publicIp": public_ip,
            "publicDns": f"ec2-{public_ip.replace('.', '-')}.compute-1.amazonaws.com",
            "arn": self._arn("ec2", f"elastic-ip/{allocation}"),
        }

    def _nat(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        nat_id = f"nat-{_hex(seed)}"
        return nat_id, {
            "publicIp": f"3.0.0.{int(_hex(seed, 2), 16)}",
            "networkInterfaceId": f"eni-{_hex(seed + 'eni')}",
        }

    def _kms_key(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        key_id = _uuid(seed)
        return key_id, {"keyId": key_id, "arn": self._arn("kms", f"key/{key_id}")}

    def _secret(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        arn = self._arn("secretsmanager", f"secret:{name}-{_alnum(seed, 6)}")
        return arn, {"arn": arn}

    def _secret_version(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        version = _uuid(seed)
        return f"{inputs.get('secretId')}|{version}", {
            "versionId": version,
            "arn": inputs.get("secretId"),
            "versionStages": ["AWSCURRENT"],
        }

    def _load_balancer(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        arn = self._arn("elasticloadbalancing", f"loadbalancer/app/{name}/{_hex(seed, 16)}")
        return arn, {
            "arn": arn,
            "arnSuffix": arn.split(":loadbalancer/")[1],
            "dnsName": f"{name}-{int(_hex(seed, 8), 16) % 10**10}.{self.region}.elb.amazonaws.com",
            "zoneId": "Z35SXDOTRQ7X7K",
            "vpcId": f"vpc-{_hex(seed + 'vpc')}",
        }

    def _target_group(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        arn = self._arn("elasticloadbalancing", f"targetgroup/{name}/{_hex(seed, 16)}")
        return arn, {"arn": arn, "arnSuffix": arn.split(":", 5)[5]}

    def _listener(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        balancer = str(inputs.get("loadBalancerArn", self._arn("elasticloadbalancing", "loadbalancer/app/x/0")))
        arn = balancer.replace(":loadbalancer/", ":listener/") + f"/{_hex(seed, 16)}"
        return arn, {"arn": arn}

    def _listener_rule(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        listener = str(inputs.get("listenerArn", self._arn("elasticloadbalancing", "listener/app/x/0/0")))
        arn = listener.replace(":listener/", ":listener-rule/") + f"/{_hex(seed, 16)}"
        return arn, {"arn": arn}

    def _task_definition(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        family = str(inputs.get("family", name))
        arn = self._arn("ecs", f"task-definition/{family}:1")
        return family, {"arn": arn, "arnWithoutRevision": self._arn("ecs", f"task-definition/{family}"), "revision": 1}

    def _ecs_service(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        cluster = str(inputs.get("cluster", "cluster/default")).rsplit("/", 1)[-1]
        arn = self._arn("ecs", f"service/{cluster}/{name}")
        return arn, {"arn": arn}

    def _namespace(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        namespace_id = f"ns-{_hex(seed, 16)}"
        return namespace_id, {
            "arn": self._arn("servicediscovery", f"namespace/{namespace_id}"),
            "hostedZone": "Z" + _hex(seed, 20).upper(),
        }

    def _discovery_service(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        service_id = f"srv-{_hex(seed, 16)}"
        return service_id, {"arn": self._arn("servicediscovery", f"service/{service_id}")}

    def _scaling_target(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        resource_id = str(inputs.get("resourceId"))
        return resource_id, {"arn": self._arn("application-autoscaling", f"scalable-target/{_hex(seed, 34)}")}

    def _scaling_policy(self, seed: str, inputs: Outputs, name: str) -> tuple[str, Outputs]:
        arn = self._arn(
            "autoscaling", f"scalingPolicy:{_uuid(seed)}:resource/ecs/{inputs.get('resourceId')}:policyName/{name}"
        )
        return name, {"arn": arn, "alarmArns": []}

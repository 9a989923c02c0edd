"""AWS names for a platform's resources, derived from its environment suffix.

Who owns which name: a platform owns every AWS name built from its environment suffix,
and the suffix is unique per (account, region) (``payplat.controller.claims``). Names are built so
that distinct (suffix, service) pairs can never produce the same name:

* platform-level names are ``payplat-<suffix>-<fixed part>``, one fixed part per resource
  kind, and contain no ``--`` (neither suffix nor service names may, ``limits.AWS_LABEL``);
* service-level names are ``payplat-<suffix>--<service>[-<fixed part>]``: the first
  ``--`` ends the suffix, so ``pay-api`` + ``x`` (``payplat-pay-api--x-task``) and ``pay`` +
  ``api-x`` (``payplat-pay--api-x-task``) differ, and no service name can equal a
  platform-level name;
* paths (log groups, the secret) separate with ``/``, which no label contains.

``PlatformNames`` is the only place these names are spelled; the program's components ask
it, and ``PlatformNames.all`` lists them for the ownership tests.

Several AWS names have hard length limits (32 characters for load balancers and target
groups, 64 for IAM roles). A name that would be too long keeps a readable prefix and
gains a hash of the full name, so it stays deterministic (no replacement on the next
run) and two long names that share a prefix still differ.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["IAM_PATH", "JOIN", "LIMITS", "PREFIX", "PlatformNames", "aws_name", "bounded", "subnet_cidrs"]

#: Every AWS name the program gives starts with this, and every IAM role sits under
#: IAM_PATH: the operator's own IAM policy scopes its rights by these two handles
#: (``role/payplat/*``, ``payplat-*`` clusters, load balancers and target groups).
PREFIX = "payplat"
IAM_PATH = f"/{PREFIX}/"
#: Joins a suffix and a service name in service-level AWS names.
JOIN = "--"

#: Longest names AWS accepts, per kind of resource.
LIMITS = {
    "alb": 32,
    "security_group": 255,
    "target_group": 32,
    "iam_role": 64,
    "iam_policy": 128,
    "ecs": 255,
    "log_group": 512,
    "scaling_policy": 255,
}


def aws_name(*parts: str, limit: int) -> str:
    """``payplat-<parts...>`` within ``limit`` characters (the prefix always survives)."""
    return bounded("-".join((PREFIX, *parts)), limit)


#: Hex characters of SHA-256 in a shortened name: 64 bits, so a tenant cannot search for
#: a service name whose shortened name equals another tenant's (2**64 tries).
_HASH = 16


def bounded(name: str, limit: int) -> str:
    """``name`` if it fits, else a truncated prefix plus ``-`` and 16 hex chars of its hash.

    The shortened form never contains the ``--`` join (trailing hyphens of the prefix are
    stripped), so a shortened name can only equal a literal service-level name of the
    same suffix, which the suffix's single owner controls."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH]
    return f"{name[: limit - _HASH - 1].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class PlatformNames:
    """Every AWS name of the platform whose environment suffix is ``suffix``."""

    suffix: str

    # ---- platform level: payplat-<suffix>-<kind>

    def cluster(self) -> str:
        return aws_name(self.suffix, limit=LIMITS["ecs"])

    def load_balancer(self) -> str:
        return aws_name(self.suffix, "alb", limit=LIMITS["alb"])

    def load_balancer_security_group(self) -> str:
        return aws_name(self.suffix, "alb", limit=LIMITS["security_group"])  # the prefix also keeps AWS's "sg-" rule

    def peers_security_group(self) -> str:
        return aws_name(self.suffix, "service-peers", limit=LIMITS["security_group"])

    def execution_role(self) -> str:
        return aws_name(self.suffix, "ecs-execution", limit=LIMITS["iam_role"])

    def flow_logs_role(self) -> str:
        return aws_name(self.suffix, "vpc-flow-logs", limit=LIMITS["iam_role"])

    def flow_log_group(self) -> str:
        return f"/{PREFIX}/{self.suffix}/vpc-flow-logs"

    def key_alias(self) -> str:
        return f"alias/{PREFIX}-{self.suffix}"

    def database_secret(self) -> str:
        return f"{PREFIX}/{self.suffix}/database"

    def discovery_namespace(self) -> str:
        return f"{self.suffix}.{PREFIX}.internal"

    # ---- service level: payplat-<suffix>--<service>[-<kind>]

    def service(self, service: str, *parts: str, limit: int) -> str:
        return bounded("-".join((f"{PREFIX}-{self.suffix}{JOIN}{service}", *parts)), limit)

    def task_family(self, service: str) -> str:
        return self.service(service, limit=LIMITS["ecs"])

    def task_role(self, service: str) -> str:
        return self.service(service, "task", limit=LIMITS["iam_role"])

    def service_security_group(self, service: str) -> str:
        return self.service(service, limit=LIMITS["security_group"])

    def target_group(self, service: str) -> str:
        return self.service(service, limit=LIMITS["target_group"])

    def scaling_policy(self, service: str, metric: str) -> str:
        return self.service(service, metric, limit=LIMITS["scaling_policy"])

    def service_log_group(self, service: str) -> str:
        return f"/{PREFIX}/{self.suffix}/{service}"

    # ---- everything, for the ownership tests

    def platform_level(self) -> dict[str, set[str]]:
        """The platform's own account- and region-wide names, by AWS namespace (a role and a
        cluster may share a name; two roles may not)."""
        return {
            "ecs-cluster": {self.cluster()},
            "elb": {self.load_balancer()},
            "security-group": {self.load_balancer_security_group(), self.peers_security_group()},
            "iam-role": {self.execution_role(), self.flow_logs_role()},
            "log-group": {self.flow_log_group()},
            "kms-alias": {self.key_alias()},
            "secret": {self.database_secret()},
            "discovery-namespace": {self.discovery_namespace()},
            "task-family": set(),
            "target-group": set(),
        }

    def service_level(self, service: str, *, public: bool) -> dict[str, set[str]]:
        """One service's names, by AWS namespace (public services also get a target group)."""
        return {
            "task-family": {self.task_family(service)},
            "iam-role": {self.task_role(service)},
            "security-group": {self.service_security_group(service)},
            "log-group": {self.service_log_group(service)},
            "target-group": {self.target_group(service)} if public else set(),
        }

    def all(self, services: Iterable[str], *, public: Iterable[str] = ()) -> dict[str, set[str]]:
        """Every name of the platform with ``services`` (``public`` ones among them)."""
        names = self.platform_level()
        public = set(public)
        for service in services:
            for kind, found in self.service_level(service, public=service in public).items():
                names[kind] |= found
        return names


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Public and private subnet CIDRs, one of each per availability zone.

    The VPC is cut into eight equal blocks: public subnets take the first ones, private
    subnets start half-way, so adding a third zone later never renumbers an existing
    subnet (renumbering would replace it and everything inside it).
    """
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=3))
    return [str(b) for b in blocks[:zones]], [str(b) for b in blocks[4 : 4 + zones]]

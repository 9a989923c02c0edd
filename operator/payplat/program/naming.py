"""AWS names for a platform's resources, derived from its environment suffix.

Several AWS names have hard length limits (32 characters for load balancers and target
groups, 64 for IAM roles). A name that would be too long keeps a readable prefix and
gains a short hash of the full name, so it stays deterministic (no replacement on the
next run) and two long names that share a prefix still differ.
"""

from __future__ import annotations

import hashlib
import ipaddress

__all__ = ["IAM_PATH", "LIMITS", "PREFIX", "aws_name", "bounded", "subnet_cidrs"]

#: Every AWS name the program gives starts with this, and every IAM role sits under
#: IAM_PATH: the operator's own IAM policy scopes its rights by these two handles
#: (``role/payplat/*``, ``payplat-*`` clusters, load balancers and target groups).
PREFIX = "payplat"
IAM_PATH = f"/{PREFIX}/"

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


def bounded(name: str, limit: int) -> str:
    """``name`` if it fits, else a truncated prefix plus ``-`` and 6 hex chars of its hash."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Public and private subnet CIDRs, one of each per availability zone.

    The VPC is cut into eight equal blocks: public subnets take the first ones, private
    subnets start half-way, so adding a third zone later never renumbers an existing
    subnet (renumbering would replace it and everything inside it).
    """
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=3))
    return [str(b) for b in blocks[:zones]], [str(b) for b in blocks[4 : 4 + zones]]

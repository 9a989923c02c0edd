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

The rules are grouped by what they guard, one module a group: ``rulessecrets`` (secrets,
keys, logs), ``rulesnetwork`` (subnets, security groups, the load balancer),
``rulesiam`` (roles and policies), ``rulesworkloads`` (containers, services, components),
all written against ``rulebook``. This module is the pack: every group's rules, evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence

from payplat.guardrails import rulesiam, rulesnetwork, rulessecrets, rulesworkloads
from payplat.guardrails.findings import Finding, Resource
from payplat.guardrails.rulebook import PlanView, Rule

__all__ = ["RULES", "Rule", "evaluate_builtin"]

#: Every built-in rule. Their order does not reach a review: findings are sorted.
RULES: list[Rule] = [
    *rulessecrets.PACK.rules,
    *rulesnetwork.PACK.rules,
    *rulesiam.PACK.rules,
    *rulesworkloads.PACK.rules,
]


def evaluate_builtin(resources: Sequence[Resource]) -> list[Finding]:
    view = PlanView(resources)
    return [finding for item in RULES for finding in item.evaluate(view)]

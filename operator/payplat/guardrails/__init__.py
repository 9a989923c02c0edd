"""Guardrails: what the policies say about a plan, and what it will cost, before AWS.

``review`` is the one pure decision both ``payplat plan`` and the operator make before
every ``up``: the built-in pack (``builtin``), the organisation's ``PaymentPlatformPolicy``
rules in CEL (``orgpolicy``), the platform's waivers (``findings``), the monthly cost
estimate (``cost``) and ``spec.budget``. An unwaived critical finding blocks.

May import payplat.model only: the review is pure, ``payplat plan`` and the controller
both call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from payplat.guardrails.builtin import evaluate_builtin
from payplat.guardrails.cost import CostEstimate, estimate
from payplat.guardrails.findings import (
    Finding,
    Resource,
    Severity,
    Waiver,
    apply_waivers,
    waivers_from_annotations,
)
from payplat.guardrails.orgpolicy import OrgPolicy, PlatformRef, evaluate_org_policies, parse_policy
from payplat.model.spec import PlatformSpec

__all__ = ["MAX_STATUS_FINDINGS", "Finding", "OrgPolicy", "PlatformRef", "Review", "Severity", "parse_policy", "review"]

#: status.policy lists at most this many findings (worst first); the counts cover all.
MAX_STATUS_FINDINGS = 20


@dataclass(frozen=True)
class Review:
    findings: list[Finding]
    cost: CostEstimate
    waivers: list[Waiver] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)
    """The PaymentPlatformPolicies that selected this platform."""

    @property
    def blocking(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.blocks]

    def counts(self) -> dict[str, int]:
        active = [f for f in self.findings if f.waived is None]
        return {severity.value: sum(1 for f in active if f.severity is severity) for severity in Severity}

    def to_json_dict(self) -> dict[str, Any]:
        """The ``policy`` and ``cost`` sections of ``payplat plan -o json``."""
        return {
            "policy": {
                "blocked": bool(self.blocking),
                "counts": self.counts(),
                "findings": [finding.to_json_dict() for finding in self.findings],
                "waivers": [{"rule": w.rule, "reason": w.reason} for w in self.waivers],
                "policies": list(self.policies),
            },
            "cost": self.cost.to_json_dict(),
        }

    def status_policy(self) -> dict[str, Any]:
        """``status.policy``: counts, the worst findings, the waivers in force."""
        return {
            "blocked": bool(self.blocking),
            "counts": self.counts(),
            "findings": [_status_item(f) for f in self.findings[:MAX_STATUS_FINDINGS]],
            "waivers": [{"rule": w.rule, "reason": w.reason} for w in self.waivers],
            "policies": list(self.policies),
        }

    def blocking_message(self) -> str:
        shown = "; ".join(f"{f.rule} on {f.resource} ({f.field}): {f.message}" for f in self.blocking[:3])
        more = len(self.blocking) - 3
        return f"policy violation: {shown}" + (f"; and {more} more" if more > 0 else "")


def _status_item(finding: Finding) -> dict[str, Any]:
    item = finding.to_json_dict()
    item.pop("fix", None)
    return item


def review(
    resources: Sequence[Resource],
    spec: PlatformSpec,
    platform: PlatformRef,
    *,
    annotations: Mapping[str, str] | None = None,
    policies: Iterable[OrgPolicy] = (),
) -> Review:
    selected = [policy for policy in policies if policy.selects(platform)]
    findings = evaluate_builtin(resources)
    findings += evaluate_org_policies(selected, resources, platform)
    cost = estimate(resources, spec.region)
    findings += _budget(spec, cost, selected)
    waivers, waiver_problems = waivers_from_annotations(annotations)
    non_waivable: dict[str, str] = {}
    for policy in selected:
        non_waivable.update(policy.non_waivable())
    outcome = apply_waivers([*findings, *waiver_problems], waivers, non_waivable)
    return Review(
        findings=outcome.findings,
        cost=cost,
        waivers=outcome.applied,
        policies=sorted(policy.name for policy in selected),
    )


def _budget(spec: PlatformSpec, cost: CostEstimate, policies: Sequence[OrgPolicy]) -> list[Finding]:
    budget = spec.budget
    if budget is None or cost.error is not None or cost.monthly <= budget.monthly_limit:
        return []
    chosen = [p.spec.budget_severity for p in policies if p.spec is not None and p.spec.budget_severity is not None]
    severity = min(chosen, key=lambda s: s.rank) if chosen else budget.severity
    source = "the organisation policy" if chosen else "spec.budget.severity"
    return [
        Finding(
            rule="budget",
            severity=severity,
            resource="platform",
            field="spec.budget.monthlyLimit",
            message=f"the estimate of {cost.monthly:.2f} {cost.currency}/month (up to {cost.maximum:.2f} at full scale) "
            f"exceeds the budget of {budget.monthly_limit:.2f} (severity from {source})",
            fix="lower desiredCount, cpu/memory or NAT gateways, or raise spec.budget.monthlyLimit",
        )
    ]

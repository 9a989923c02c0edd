"""What a guardrail says about a plan: findings, their severities, and waivers.

A finding is one rule broken by one planned resource (or by the plan as a whole, e.g. a
budget). Only an unwaived ``critical`` finding blocks; the others are reported. A
platform waives a rule with an annotation ``payplat.io/waive-<rule id>: "<reason>"``; a
waiver without a reason is no waiver (it is reported as a finding of its own), and the
organisation can make rules non-waivable. Pure data and decisions: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from payplat.model.parts import Severity

__all__ = [
    "WAIVER_PREFIX",
    "Finding",
    "Resource",
    "Severity",
    "Waiver",
    "apply_waivers",
    "blocking",
    "waivers_from_annotations",
]

#: ``metadata.annotations[WAIVER_PREFIX + rule]`` holds the reason a rule is waived.
WAIVER_PREFIX = "payplat.io/waive-"
#: A rule id as it can appear in an annotation name (after the prefix, at most 63 chars in all).
RULE_ID = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
MAX_RULE_ID = 63 - len("waive-")


class Resource(Protocol):
    """A planned resource as the guardrails read it (``payplat.program.plan.PlannedResource``)."""

    # Read-only properties, so that frozen dataclasses (PlannedResource) match.
    @property
    def urn(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def custom(self) -> bool: ...
    @property
    def inputs(self) -> dict[str, Any]: ...
    @property
    def parent(self) -> str | None: ...


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    resource: str
    """``<type> <name>`` of the planned resource, or ``platform`` for a plan-wide finding."""
    field: str
    """Where in the resource's inputs (dotted), or the spec field for plan-wide findings."""
    message: str
    fix: str
    source: str = "builtin"
    """``builtin`` or ``PaymentPlatformPolicy/<name>``."""
    check: str | None = None
    """The checkov check id for the same property, where one exists."""
    waived: str | None = None
    """The waiver's reason when the platform waived this rule."""

    @property
    def blocks(self) -> bool:
        return self.severity is Severity.CRITICAL and self.waived is None

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity.value,
            "resource": self.resource,
            "field": self.field,
            "message": self.message,
            "fix": self.fix,
            "source": self.source,
        }
        if self.check:
            out["check"] = self.check
        if self.waived is not None:
            out["waived"] = self.waived
        return out


@dataclass(frozen=True)
class Waiver:
    rule: str
    reason: str


def waivers_from_annotations(annotations: Mapping[str, str] | None) -> tuple[list[Waiver], list[Finding]]:
    """The waivers a platform declares, and a finding for each one without a reason."""
    waivers: list[Waiver] = []
    problems: list[Finding] = []
    for key, value in sorted((annotations or {}).items()):
        if not key.startswith(WAIVER_PREFIX):
            continue
        rule = key[len(WAIVER_PREFIX) :]
        reason = str(value or "").strip()
        if not reason:
            problems.append(
                Finding(
                    rule="waiver-without-reason",
                    severity=Severity.HIGH,
                    resource="platform",
                    field=f"metadata.annotations[{key}]",
                    message=f"the waiver of {rule!r} gives no reason, so it waives nothing",
                    fix=f"set the annotation's value to why {rule!r} does not apply, or remove it",
                )
            )
            continue
        waivers.append(Waiver(rule=rule, reason=reason))
    return waivers, problems


@dataclass(frozen=True)
class WaiverOutcome:
    findings: list[Finding]
    applied: list[Waiver] = field(default_factory=list)


def apply_waivers(
    findings: Iterable[Finding], waivers: Iterable[Waiver], non_waivable: Mapping[str, str] | None = None
) -> WaiverOutcome:
    """Mark the findings a waiver covers. ``non_waivable`` maps a rule id to the source
    that forbids waiving it; such a waiver is refused with a finding of the rule's own
    severity, so it shows why the platform is still blocked."""
    by_rule = {waiver.rule: waiver for waiver in waivers}
    locked = dict(non_waivable or {})
    out: list[Finding] = []
    applied: dict[str, Waiver] = {}
    refused: set[str] = set()
    for finding in findings:
        waiver = by_rule.get(finding.rule)
        if waiver is None:
            out.append(finding)
        elif finding.rule in locked:
            out.append(finding)
            refused.add(finding.rule)
        else:
            out.append(replace(finding, waived=waiver.reason))
            applied[waiver.rule] = waiver
    for rule in sorted(refused):
        out.append(
            Finding(
                rule="waiver-refused",
                severity=Severity.HIGH,
                resource="platform",
                field=f"metadata.annotations[{WAIVER_PREFIX}{rule}]",
                message=f"{rule!r} may not be waived ({locked[rule]} makes it non-waivable)",
                fix=f"fix what {rule!r} reports instead of waiving it",
            )
        )
    return WaiverOutcome(findings=sort_findings(out), applied=[applied[rule] for rule in sorted(applied)])


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first, then by rule and resource: a stable order for status and output."""
    return sorted(findings, key=lambda f: (f.waived is not None, f.severity.rank, f.rule, f.resource, f.field))


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.blocks]

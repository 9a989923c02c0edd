"""Change control, decided without I/O: what a preview would change, its plan hash, and
whether it applies now or waits for a person's approval.

An approval binds to the exact change reviewed. ``plan_hash`` is a SHA-256 (16 hex
digits shown) over the canonical JSON of the whole resource change (every step's op,
URN, type and the inputs forcing a replacement, as a set: Pulumi walks the graph in
parallel, so the order of its steps varies), the platform (``namespace/name``) and its
generation. The operator previews again right before applying and applies only when
the fresh hash equals the approved one: a change of AWS (a refresh finding drift), of the
spec (a new generation) or of the program gives another hash, so it waits again.

The cost and policy deltas shown next to the change derive from the spec, which the
generation already pins; they are not hashed, so a price-table or policy edit that does
not change the resources cannot invalidate an approval (a new critical finding blocks
the apply anyway, before any preview: ``payplat.guardrails``).

Protected kinds (``spec.ProtectedKind``) are stateful resources whose loss hurts: their
deletion or replacement waits whatever the policy, unless ``changeControl.allowProtected``
lists them. Which input changes force a replacement is ``engines.forcenew``'s table; this
module reads the replacements the engines report and does not guess them itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from payplat.engines.base import Preview, ResourceChange
from payplat.model.parts import ChangeControlSpec, ChangePolicy, ProtectedKind

__all__ = [
    "APPROVE_ANNOTATION",
    "MAX_LISTED",
    "PROTECTED_TYPES",
    "Decision",
    "PendingChange",
    "approver_of",
    "cost_delta",
    "decide",
    "findings_delta",
    "pending_change",
    "plan_hash",
    "protected_kind",
]

#: ``kubectl annotate pp NAME payplat.io/approve=<hash>`` approves that plan.
APPROVE_ANNOTATION = "payplat.io/approve"
#: Replaced/deleted resources listed in status (the plan ConfigMap lists them all).
MAX_LISTED = 50
HASH_LENGTH = 16

#: The Pulumi type of each protected kind.
PROTECTED_TYPES: dict[ProtectedKind, str] = {
    ProtectedKind.KMS_KEY: "aws:kms/key:Key",
    ProtectedKind.DATABASE_SECRET: "aws:secretsmanager/secret:Secret",
    ProtectedKind.VPC: "aws:ec2/vpc:Vpc",
    ProtectedKind.LOAD_BALANCER: "aws:lb/loadBalancer:LoadBalancer",
}
_KIND_OF_TYPE = {type_: kind for kind, type_ in PROTECTED_TYPES.items()}
_HURTING = ("replace", "delete")


def protected_kind(step: ResourceChange) -> ProtectedKind | None:
    """The protected kind a step replaces or deletes; None for any other step."""
    return _KIND_OF_TYPE.get(step.type) if step.op in _HURTING else None


def _step(step: ResourceChange) -> dict[str, Any]:
    item: dict[str, Any] = {"op": step.op, "name": step.name, "type": step.type}
    if step.keys:
        item["reason"] = list(step.keys)  # the inputs forcing the replacement, as the provider said
    if step.diffs:
        item["diffs"] = list(step.diffs)
    return item


@dataclass(frozen=True)
class PendingChange:
    """A preview summarised for people (status, event, plan ConfigMap) and its hash."""

    plan_hash: str
    counts: dict[str, int]
    steps: tuple[dict[str, Any], ...]
    protected: tuple[dict[str, str], ...]
    cost: dict[str, str] = field(default_factory=dict)
    findings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.get(op, 0) for op in ("create", "update", "replace", "delete"))

    def hurting(self) -> list[dict[str, Any]]:
        """The replaced and deleted resources: what AutoAdditive and reviewers care about."""
        return [step for step in self.steps if step["op"] in _HURTING]

    def status(self, config_map: str = "") -> dict[str, Any]:
        """``status.pendingChange``: bounded (the ConfigMap has the whole plan)."""
        hurting = self.hurting()
        out: dict[str, Any] = {
            "planHash": self.plan_hash,
            "changes": dict(self.counts),
            "replacedOrDeleted": hurting[:MAX_LISTED],
            "protected": list(self.protected),
        }
        if len(hurting) > MAX_LISTED:
            out["more"] = len(hurting) - MAX_LISTED
        if config_map:
            out["configMap"] = config_map
        if self.cost:
            out["cost"] = dict(self.cost)
        if self.findings:
            out["policy"] = {key: list(value) for key, value in self.findings.items()}
        return out

    def describe(self) -> str:
        counts = ", ".join(f"{count} to {op}" for op, count in self.counts.items() if count and op != "same")
        text = counts or "no changes"
        if self.protected:
            text += "; protected: " + ", ".join(f"{p['kind']} {p['name']} ({p['op']})" for p in self.protected)
        return text


def plan_hash(steps: Sequence[ResourceChange], counts: Mapping[str, int], *, owner: str, generation: int) -> str:
    """16 hex digits of SHA-256 over exactly the change, the platform and the generation."""
    body = {
        "owner": owner,
        "generation": generation,
        "changes": {op: int(counts.get(op, 0)) for op in ("create", "update", "replace", "delete")},
        # Sorted: the real engine reports steps in the order its parallel walk reached them.
        "steps": sorted([step.op, step.urn, step.type, sorted(step.keys)] for step in steps),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:HASH_LENGTH]


def pending_change(
    preview: Preview,
    *,
    owner: str,
    generation: int,
    cost: Mapping[str, str] | None = None,
    findings: Mapping[str, list[str]] | None = None,
) -> PendingChange:
    counts = {op: count for op, count in preview.changes.as_dict().items() if op != "same"}
    protected = tuple(
        {"kind": kind.value, "name": step.name, "op": step.op}
        for step in preview.steps
        if (kind := protected_kind(step)) is not None
    )
    return PendingChange(
        plan_hash(preview.steps, counts, owner=owner, generation=generation),
        counts,
        tuple(_step(step) for step in preview.steps),
        protected,
        dict(cost or {}),
        {key: list(value) for key, value in (findings or {}).items()},
    )


@dataclass(frozen=True)
class Decision:
    """Apply now (``approved`` when a person's approval let it through) or wait, and why."""

    apply: bool
    approved: bool
    reasons: tuple[str, ...]
    message: str


def decide(control: ChangeControlSpec, change: PendingChange, approval: str | None) -> Decision:
    """Whether ``change`` applies now under ``control``, given the approve annotation's value."""
    reasons = []
    if change.total and control.policy is ChangePolicy.MANUAL:
        reasons.append("changeControl.policy is Manual")
    hurting = [step for step in change.steps if step["op"] in _HURTING]
    if hurting and control.policy is ChangePolicy.AUTO_ADDITIVE:
        reasons.append(f"changeControl.policy AutoAdditive: {len(hurting)} resource(s) would be replaced or deleted")
    allowed = {kind.value for kind in control.allow_protected}
    unallowed = sorted({p["kind"] for p in change.protected} - allowed)
    if unallowed:
        reasons.append(
            f"protected kind(s) {', '.join(unallowed)} would be replaced or deleted "
            "(allow them in changeControl.allowProtected, or approve)"
        )
    if not reasons:
        return Decision(True, False, (), "")
    if approval == change.plan_hash:
        return Decision(True, True, tuple(reasons), f"approved plan {change.plan_hash} applies")
    howto = f"kubectl annotate pp NAME {APPROVE_ANNOTATION}={change.plan_hash} --overwrite"
    if approval:
        message = (
            f"approval {approval!r} does not match the pending plan {change.plan_hash} (stale, or for "
            f"another change): nothing applied; review the plan and approve it: {howto}"
        )
    else:
        message = f"waiting for approval of plan {change.plan_hash} ({change.describe()}): {howto}"
    return Decision(False, False, tuple(reasons), f"{message}; why: {'; '.join(reasons)}")


def approver_of(managed_fields: Iterable[Mapping[str, Any]] | None) -> str:
    """The field manager that owns the approve annotation, as the API server recorded it
    (``kubectl annotate`` is ``kubectl-annotate``); empty when no entry owns it."""
    key = f"f:{APPROVE_ANNOTATION}"
    owners = [
        entry
        for entry in managed_fields or ()
        if key in (((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {})
    ]
    if not owners:
        return ""
    latest = max(owners, key=lambda entry: str(entry.get("time") or ""))
    return str(latest.get("manager") or "")


def cost_delta(before: str | None, after: Mapping[str, Any]) -> dict[str, str]:
    """The monthly estimate of the last applied generation against this one's (USD)."""
    if "monthly" not in after:
        return {}
    out = {"after": str(after["monthly"])}
    if before is not None:
        out["before"] = before
        out["delta"] = f"{float(after['monthly']) - float(before):+.2f}"
    return out


def finding_keys(findings: Iterable[Mapping[str, Any]]) -> list[str]:
    """Unwaived findings as ``rule@resource``, the form history keeps (bounded)."""
    keys = sorted({f"{item['rule']}@{item['resource']}" for item in findings if not item.get("waived")})
    return keys[:MAX_LISTED]


def findings_delta(before: Iterable[str] | None, after: Iterable[str]) -> dict[str, list[str]]:
    """Findings this change adds and removes against the last applied generation."""
    if before is None:
        return {}
    old, new = set(before), set(after)
    return {"added": sorted(new - old), "removed": sorted(old - new)}

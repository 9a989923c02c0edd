"""What change control writes, computed without I/O: the AwaitingApproval status, the
audit trail in ``status.history`` and the readable plan ConfigMap.

The status transitions plug into ``payplat.controller.status.next_status`` (its singledispatch), so
the one status function still computes every status. Nothing here holds a secret value:
a plan lists resource names, types, ops and input *keys*, never input values, and the
ConfigMap text is passed through ``redaction.redact`` with the platform's secrets anyway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payplat import API_GROUP, API_VERSION
from payplat.controller.changecontrol import APPROVE_ANNOTATION, PendingChange
from payplat.controller.conditions import _set as set_condition
from payplat.controller.conditions import timestamp
from payplat.controller.redaction import redact
from payplat.controller.status import register_transition
from payplat.controller.statusevents import READY, RECONCILING, STALLED, Phase, Reason
from payplat.engines.base import OperationResult

__all__ = [
    "AWAITING_APPROVAL",
    "KEPT_PLANS",
    "MAX_PLAN_BYTES",
    "ApprovalIgnored",
    "Audited",
    "AwaitingApproval",
    "PlanRecorded",
    "history_entry",
    "plan_config_map",
    "plan_config_map_name",
    "plans_to_delete",
]

AWAITING_APPROVAL = Reason.AWAITING_APPROVAL
#: The readable plan stays well inside a ConfigMap's 1 MiB.
MAX_PLAN_BYTES = 256 * 1024
#: Plan ConfigMaps kept per platform (the two newest: typically the pending one and the
#: last applied one); older ones the operator created are deleted by name and UID.
KEPT_PLANS = 2
MANAGED_BY = "payplat-operator"
PLAN_LABEL = f"{API_GROUP}/plan-of"


def plan_config_map_name(platform: str, plan_hash: str) -> str:
    return f"{platform}-plan-{plan_hash}"


def plan_config_map(
    *, namespace: str, platform: str, uid: str, generation: int, change: PendingChange, secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """The plan as a ConfigMap owned by the platform (garbage-collected with it): JSON for
    tools, text for people, bounded by ``MAX_PLAN_BYTES`` (steps cut, and the cut said)."""
    steps = list(change.steps)
    while True:
        body = {
            "platform": f"{namespace}/{platform}",
            "generation": generation,
            "planHash": change.plan_hash,
            "changes": change.counts,
            "protected": list(change.protected),
            "cost": change.cost,
            "policy": change.findings,
            "steps": steps,
        }
        if len(steps) < len(change.steps):
            body["truncated"] = len(change.steps) - len(steps)
        text = _text(body, namespace, platform)
        document = json.dumps(body, indent=1, sort_keys=True)
        if len(document) + len(text) <= MAX_PLAN_BYTES or not steps:
            break
        steps = steps[: len(steps) // 2]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": plan_config_map_name(platform, change.plan_hash),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                PLAN_LABEL: platform,
                f"{API_GROUP}/plan-hash": change.plan_hash,
            },
            "ownerReferences": [
                {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "PaymentPlatform", "name": platform, "uid": uid}
            ],
        },
        "data": {"plan.json": redact(document, secrets), "plan.txt": redact(text, secrets)},
    }


def _text(body: Mapping[str, Any], namespace: str, platform: str) -> str:
    symbols = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
    lines = [
        f"Plan {body['planHash']} for PaymentPlatform {body['platform']} (generation {body['generation']})",
        "changes: " + (", ".join(f"{n} to {op}" for op, n in body["changes"].items() if n) or "none"),
    ]
    for item in body["protected"]:
        lines.append(f"PROTECTED {item['kind']}: {item['name']} would be {item['op']}d")
    if body["cost"]:
        lines.append("monthly cost (USD): " + ", ".join(f"{k} {v}" for k, v in body["cost"].items()))
    if body["policy"]:
        lines.append(
            "policy findings: " + "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in body["policy"].items())
        )
    for step in body["steps"]:
        reason = f" (replaced because {', '.join(step['reason'])} changed)" if step.get("reason") else ""
        diffs = f" [{', '.join(step['diffs'])}]" if step.get("diffs") and not step.get("reason") else ""
        lines.append(f"  {symbols[step['op']]:>2} {step['type']} {step['name']}{reason}{diffs}")
    if body.get("truncated"):
        lines.append(f"  ... and {body['truncated']} more steps (cut to fit the ConfigMap)")
    lines.append(
        f"Approve: kubectl annotate pp {platform} -n {namespace} {APPROVE_ANNOTATION}={body['planHash']} --overwrite"
    )
    return "\n".join(lines) + "\n"


def plans_to_delete(
    recorded: Sequence[Mapping[str, str]], keep: int = KEPT_PLANS
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(kept, to delete) of the plan ConfigMaps the operator created, newest last."""
    items = [dict(item) for item in recorded]
    return items[-keep:], items[:-keep] if len(items) > keep else []


def history_entry(
    result: OperationResult,
    *,
    generation: int,
    change: PendingChange | None,
    approver: str,
    approval: str,
    config_map: str = "",
    cost: str | None = None,
    findings: Sequence[str] = (),
) -> dict[str, Any]:
    """One audit record for ``status.history``: secret-free by construction (counts,
    hashes, names the API server and the backend gave)."""
    entry: dict[str, Any] = {
        "generation": generation,
        "operation": result.operation,
        "result": "Succeeded",
        "time": timestamp(result.finished),
        "changes": {k: v for k, v in result.changes.as_dict().items() if v and k != "same"},
        "updateId": result.update_id,
    }
    if change is not None:
        entry["planHash"] = change.plan_hash
    if approval:
        entry["approvedBy"] = {"manager": approver, "annotation": approval}
    if config_map:
        entry["configMap"] = config_map
    if cost is not None:
        entry["monthlyCost"] = cost
    if findings:
        entry["findings"] = list(findings)
    return entry


# --------------------------------------------------------------------------- status events


@dataclass(frozen=True)
class AwaitingApproval:
    """A previewed change waits for a person: nothing was applied."""

    pending: Mapping[str, Any]
    message: str
    approval: str | None = None


@dataclass(frozen=True)
class ApprovalIgnored:
    """A hash that is not the pending plan's: remembered so a resync does not act on it again."""

    approval: str


@dataclass(frozen=True)
class PlanRecorded:
    """The plan ConfigMaps the operator created for this platform, newest last."""

    plans: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class Audited:
    """An operation finished: its audit record, kept to ``limit`` entries; the pending change is answered."""

    entry: Mapping[str, Any]
    limit: int


@register_transition
def _awaiting(event: AwaitingApproval, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    conditions = set_condition(base["conditions"], READY, "False", AWAITING_APPROVAL, event.message, generation, now)
    conditions = set_condition(conditions, RECONCILING, "False", AWAITING_APPROVAL, event.message, generation, now)
    conditions = set_condition(conditions, STALLED, "False", AWAITING_APPROVAL, "", generation, now)
    update = {
        "phase": Phase.AWAITING_APPROVAL.value,
        "message": event.message,
        "observedGeneration": generation,
        "conditions": conditions,
        "pendingChange": dict(event.pending),
    }
    if event.approval:
        update["lastHandledApproval"] = event.approval
    return update


@register_transition
def _ignored(event: ApprovalIgnored, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    return {"lastHandledApproval": event.approval}


@register_transition
def _plans(event: PlanRecorded, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    return {"planConfigMaps": [dict(item) for item in event.plans]}


@register_transition
def _audited(event: Audited, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    history = [*(base.get("history") or []), dict(event.entry)][-event.limit :]
    update: dict[str, Any] = {"history": history, "pendingChange": None}
    if event.entry.get("approvedBy"):
        update["lastHandledApproval"] = event.entry["approvedBy"]["annotation"]
    return update

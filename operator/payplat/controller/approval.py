"""Change control's I/O: preview, decide, then apply or hold, for the reconcile handler.

``gated_up`` runs inside one hold of the stack (``handlersteps._operate``): the preview and
the ``up`` that follows see the same state, so an approved hash applies exactly the
change previewed. A platform whose policy cannot make anything wait (``Automatic`` with
every protected kind allowed) skips the preview. ``held`` and ``applied`` then record the
outcome: the plan ConfigMap, status (``changerecords``), and the events, returned as
``Note``s for the handler to post (only the handlers know kopf).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from payplat.controller.changecontrol import (
    APPROVE_ANNOTATION,
    Decision,
    PendingChange,
    approver_of,
    cost_delta,
    decide,
    finding_keys,
    findings_delta,
    pending_change,
)
from payplat.controller.changerecords import (
    ApprovalIgnored,
    Audited,
    AwaitingApproval,
    PlanRecorded,
    history_entry,
    plan_config_map,
    plan_config_map_name,
    plans_to_delete,
)
from payplat.controller.operations import Runtime
from payplat.engines.base import Audit, OperationResult, StackRef, StackSecrets
from payplat.guardrails import Review
from payplat.model.parts import ChangePolicy, ProtectedKind
from payplat.model.spec import PlatformSpec

__all__ = ["Applied", "Held", "Note", "applied", "gated_up", "held", "record_destroy"]

log = logging.getLogger(__name__)
#: An event for the handler to post: (type Normal/Warning, reason, message).
Note = tuple[str, str, str]


class Writer(Protocol):
    """What ``handlersteps._Writer`` offers this module."""

    runtime: Runtime
    namespace: str
    name: str
    body: Any
    generation: int
    current: dict[str, Any]
    secrets: tuple[str, ...]

    def write(self, event: object) -> None: ...

    def clean(self, text: str) -> str: ...


@dataclass(frozen=True)
class Held:
    """The change waits for approval; nothing was applied."""

    change: PendingChange
    decision: Decision
    approval: str | None


@dataclass(frozen=True)
class Applied:
    """The ``up`` ran; ``change`` is None when no preview was needed."""

    result: OperationResult
    change: PendingChange | None
    approval: str
    approver: str


def _needs_preview(platform: PlatformSpec) -> bool:
    control = platform.change_control
    return control.policy is not ChangePolicy.AUTOMATIC or len(set(control.allow_protected)) < len(ProtectedKind)


def _last_applied(history: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((entry for entry in reversed(history) if entry.get("operation") == "up"), None)


async def gated_up(
    runtime: Runtime,
    ref: StackRef,
    platform: PlatformSpec,
    secrets: StackSecrets,
    *,
    generation: int,
    meta: Mapping[str, Any],
    status: Mapping[str, Any],
    review: Review,
) -> Applied | Held:
    """Preview, decide (``changecontrol.decide``), and ``up`` when allowed."""
    refresh = platform.change_control.refresh_before_update
    if not _needs_preview(platform):
        result = await runtime.engine.up(ref, platform, secrets, audit=Audit(generation), refresh=refresh)
        return Applied(result, None, "", "")
    preview = await runtime.engine.preview(ref, platform, secrets, refresh=refresh)
    last = _last_applied(status.get("history") or ())
    policy = review.status_policy()
    change = pending_change(
        preview,
        owner=ref.owner,
        generation=generation,
        cost=cost_delta(last.get("monthlyCost") if last else None, review.cost.summary()),
        findings=findings_delta(last.get("findings") if last else None, finding_keys(policy["findings"])),
    )
    approval = ((meta.get("annotations") or {}).get(APPROVE_ANNOTATION) or "").strip() or None
    decision = decide(platform.change_control, change, approval)
    if not decision.apply:
        return Held(change, decision, approval)
    approver = approver_of(meta.get("managedFields")) if decision.approved else ""
    audit = Audit(generation, change.plan_hash, f"{approver}:{approval}" if decision.approved else "")
    result = await runtime.engine.up(ref, platform, secrets, audit=audit, refresh=refresh)
    return Applied(result, change, (approval or "") if decision.approved else "", approver)


async def held(writer: Writer, platform: PlatformSpec, uid: str, outcome: Held) -> list[Note]:
    """Keep the plan next to the object, say what waits and how to approve it."""
    runtime, change = writer.runtime, outcome.change
    name = plan_config_map_name(writer.name, change.plan_hash)
    recorded = [dict(item) for item in writer.current.get("planConfigMaps") or ()]
    if all(item.get("name") != name for item in recorded):
        body = plan_config_map(
            namespace=writer.namespace,
            platform=writer.name,
            uid=uid,
            generation=writer.generation,
            change=change,
            secrets=writer.secrets,
        )
        try:
            created_uid = await runtime.plans.create(writer.namespace, body)
        except Exception as error:  # noqa: BLE001 - the status still shows the change; the next run retries
            log.warning("could not write plan ConfigMap %s/%s: %s", writer.namespace, name, type(error).__name__)
            name = ""
        else:
            recorded.append({"name": name, "uid": created_uid})
            kept, stale = plans_to_delete(recorded)
            for item in stale:
                try:
                    await runtime.plans.delete(writer.namespace, item["name"], item["uid"])
                except Exception as error:  # noqa: BLE001 - garbage collection removes it with the platform
                    log.warning("could not delete superseded plan ConfigMap %s: %s", item["name"], type(error).__name__)
            writer.write(PlanRecorded(tuple(kept)))
    message = writer.clean(outcome.decision.message.replace("pp NAME", f"pp {writer.name} -n {writer.namespace}"))
    writer.write(AwaitingApproval(change.status(name), message, outcome.approval))
    notes: list[Note] = [("Normal", "AwaitingApproval", message)]
    if outcome.approval:
        writer.write(ApprovalIgnored(outcome.approval))
        notes.append(("Warning", "ApprovalIgnored", message))
    return notes


def applied(writer: Writer, platform: PlatformSpec, outcome: Applied, review: Review | None) -> list[Note]:
    """The audit record of an applied change (the result itself is written by the caller)."""
    change = outcome.change
    name = plan_config_map_name(writer.name, change.plan_hash) if change is not None else ""
    recorded = {item.get("name") for item in writer.current.get("planConfigMaps") or ()}
    policy = review.status_policy() if review is not None else None
    entry = history_entry(
        outcome.result,
        generation=writer.generation,
        change=change,
        approver=outcome.approver,
        approval=outcome.approval,
        config_map=name if name in recorded else "",
        cost=review.cost.summary().get("monthly") if review is not None else None,
        findings=finding_keys(policy["findings"]) if policy else (),
    )
    writer.write(Audited(entry, platform.change_control.history_limit))
    if not outcome.approval:
        return []
    approver = outcome.approver or "unknown manager"
    update = outcome.result.update_id or "?"
    return [("Normal", "ChangeApproved", f"plan {outcome.approval} approved by {approver} applied (update {update})")]


def record_destroy(writer: Writer, result: OperationResult, limit: int) -> None:
    """Destroys are part of the audit trail too."""
    writer.write(
        Audited(history_entry(result, generation=writer.generation, change=None, approver="", approval=""), limit)
    )

"""kstatus conditions: Ready, Reconciling, Stalled and Drifted, each with its reason, message,
observedGeneration and a lastTransitionTime that only moves when the status flips, so
kubectl wait, Argo CD and kstatus-aware tools read a PaymentPlatform like any workload;
and a PaymentPlatformPolicy's status (Ready when every CEL rule compiled).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from payplat.controller.statusevents import (
    DRIFTED,
    READY,
    RECONCILING,
    STALLED,
    Reason,
)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, the form Kubernetes uses for metav1.Time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(status: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for item in status.get("conditions") or ():
        if item.get("type") == kind:
            return dict(item)
    return None


def _set(
    conditions: list[dict[str, Any]], kind: str, value: str, reason: str, message: str, generation: int, now: datetime
) -> list[dict[str, Any]]:
    """Conditions with ``kind`` set; lastTransitionTime kept unless the status flips."""
    previous = next((item for item in conditions if item.get("type") == kind), None)
    flipped = previous is None or previous.get("status") != value
    updated = {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": timestamp(now) if flipped or previous is None else previous["lastTransitionTime"],
        "observedGeneration": generation,
    }
    return (
        [updated if item.get("type") == kind else item for item in conditions] if previous else [*conditions, updated]
    )


def mark_ready(conditions: list[dict[str, Any]], message: str, generation: int, now: datetime) -> list[dict[str, Any]]:
    conditions = _set(conditions, READY, "True", Reason.SUCCEEDED, message, generation, now)
    conditions = _set(conditions, RECONCILING, "False", Reason.SUCCEEDED, "", generation, now)
    return _set(conditions, STALLED, "False", Reason.SUCCEEDED, "", generation, now)


def mark_reconciling(
    conditions: list[dict[str, Any]],
    reason: str,
    message: str,
    generation: int,
    now: datetime,
    *,
    ready_reason: str = Reason.PROGRESSING,
) -> list[dict[str, Any]]:
    conditions = _set(conditions, READY, "False", ready_reason, message, generation, now)
    conditions = _set(conditions, RECONCILING, "True", reason, message, generation, now)
    return _set(conditions, STALLED, "False", reason, "", generation, now)


def mark_stalled(
    conditions: list[dict[str, Any]], reason: str, message: str, generation: int, now: datetime
) -> list[dict[str, Any]]:
    conditions = _set(conditions, READY, "False", reason, message, generation, now)
    conditions = _set(conditions, RECONCILING, "False", Reason.STALLED, "", generation, now)
    return _set(conditions, STALLED, "True", reason, message, generation, now)


def mark_drifted(
    conditions: list[dict[str, Any]],
    drifted: bool | None,
    message: str,
    generation: int,
    now: datetime,
    *,
    reason: str | None = None,
) -> list[dict[str, Any]]:
    if drifted is None:
        return _set(conditions, DRIFTED, "Unknown", reason or Reason.DRIFT_CHECK_FAILED, message, generation, now)
    reason = reason or (Reason.DRIFT_DETECTED if drifted else Reason.NO_DRIFT)
    return _set(conditions, DRIFTED, "True" if drifted else "False", reason, message, generation, now)


def policy_status(
    previous: Mapping[str, Any], generation: int, problems: Iterable[str], rules: int, now: datetime
) -> dict[str, Any]:
    """A PaymentPlatformPolicy's status: Ready True (Accepted) when it parsed and every
    CEL rule compiled, else False (InvalidPolicy) with one problem per line."""
    listed = list(problems)
    if listed:
        ready, reason, message = "False", Reason.INVALID_POLICY, "; ".join(listed)
    else:
        ready, reason, message = "True", Reason.ACCEPTED, f"{rules} rules compiled"
    conditions = _set(
        [dict(c) for c in previous.get("conditions") or ()], READY, ready, reason, message, generation, now
    )
    return {**previous, "observedGeneration": generation, "rules": rules, "problems": listed, "conditions": conditions}

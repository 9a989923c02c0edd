"""What a PaymentPlatform's ``status`` says, computed without any I/O.

The kstatus protocol (what ``kubectl wait``, Argo CD and Flux read), as used here:

* ``Ready`` (normal-true polarity): True once the last ``up`` for the current generation
  succeeded. ``kubectl wait --for=condition=Ready`` waits on it.
* ``Reconciling`` (abnormal-true): True while the operator works towards the spec,
  including while it waits to retry a transient failure.
* ``Stalled`` (abnormal-true): True when retrying cannot help (invalid spec, policy, auth);
  nothing happens until the spec changes.
* ``Drifted``: the last drift check found AWS differing from the stack (True), matching
  it (False) or could not tell (Unknown).

``stackLock`` (who holds the stack's lock, since when, and why it counts as alive) is
present while an operation waits for a holder that is not provably gone.

Every condition carries ``type, status, reason, message, lastTransitionTime,
observedGeneration``. ``lastTransitionTime`` changes only when ``status`` flips, so a
retry loop does not look like a flapping resource. ``status.observedGeneration`` says
which generation the rest of the status describes; with ``phase`` it also answers "is
there anything left to do for this generation?" (``is_settled``), which is how a resync
or an operator restart costs no engine call.

``next_status(previous, generation, event, now)`` is the one place status is computed: the
handlers hand it what happened (an ``OperationResult``, a ``Failed``, a ``DriftReport``,
...) and patch the returned dict onto the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import singledispatch
from typing import Any

from payplat.controller.conditions import (
    _set,
    condition,
    mark_drifted,
    mark_ready,
    mark_reconciling,
    mark_stalled,
    timestamp,
)
from payplat.controller.redaction import redact, redact_outputs
from payplat.controller.statusevents import (
    READY,
    RECONCILING,
    STALLED,
    DriftCheckFailed,
    DriftRequestAnswered,
    Failed,
    Forgotten,
    Invalid,
    Phase,
    PolicyBlocked,
    Queued,
    Reason,
    ReconcileRequested,
    Remediated,
    RemediationFailed,
    Reviewed,
    Started,
    Suspended,
)
from payplat.engines.base import DriftReport, OperationResult

__all__ = [
    "drift_check_due",
    "is_settled",
    "next_status",
    "register_transition",
    "status_patch",
]


# --------------------------------------------------------------------------- events


# --------------------------------------------------------------------------- conditions


# --------------------------------------------------------------------------- transitions


def is_settled(
    status: Mapping[str, Any], generation: int | None, requested: str | None = None, approval: str | None = None
) -> bool:
    """Nothing left to do for this generation: it is Ready, Stalled or Suspended already,
    and no reconcile request (``requested``, the reconcile-request annotation's value) is
    waiting for an answer.

    A Failed or Reconciling phase is not settled: the operator was interrupted or is
    retrying, so a restart must pick the work up again. Nor is a PolicyViolation stall:
    deleting the policy or adding a waiver changes no generation, yet must take effect.
    A change AwaitingApproval is settled until a new approval (``approval``, the approve
    annotation's value) arrives: a resync previews nothing.
    """
    settled = {Phase.READY.value, Phase.STALLED.value, Phase.SUSPENDED.value, Phase.AWAITING_APPROVAL.value}
    if (
        status.get("phase") == Phase.AWAITING_APPROVAL.value
        and approval
        and approval != status.get("lastHandledApproval")
    ):
        return False
    if requested and requested != status.get("lastHandledReconcileRequest"):
        return False
    if (condition(status, STALLED) or {}).get("reason") == Reason.POLICY_VIOLATION:
        return False  # policies and waivers change without a new generation: look again
    return generation is not None and status.get("observedGeneration") == generation and status.get("phase") in settled


def drift_check_due(
    status: Mapping[str, Any], interval_minutes: int, now: datetime, requested: str | None = None
) -> bool:
    """A drift check is due ``interval_minutes`` after the last one, or after the last
    operation when there was none yet (so a fresh ``up`` is not checked at once); and at
    once when a person asked for one (``requested``, the check-drift annotation's value)
    that no check has answered yet."""
    last_check = status.get("lastDriftCheck") or {}
    if requested and requested != last_check.get("request"):
        return True
    last = last_check.get("time") or (status.get("lastUpdate") or {}).get("endTime")
    if not last:
        return True
    elapsed = now - datetime.strptime(last, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return elapsed.total_seconds() >= interval_minutes * 60


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch turning ``old`` into ``new``: changed keys, and None for keys
    to delete (a merge patch of ``{}`` would keep every old output)."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        previous = old.get(key)
        if isinstance(value, Mapping) and isinstance(previous, Mapping):
            nested = status_patch(previous, value)
            if nested:
                patch[key] = nested
        elif value != previous:
            patch[key] = value
    return patch


def next_status(
    previous: Mapping[str, Any] | None, generation: int, event: object, now: datetime, *, secrets: Iterable[str] = ()
) -> dict[str, Any]:
    """The whole new status after ``event``; unknown fields of ``previous`` are kept.

    ``secrets`` are this platform's secret values, scrubbed from every message and output
    (only its own: see ``payplat.controller.redaction`` on cross-tenant oracles).
    """
    base = dict(previous or {})
    base["conditions"] = [dict(item) for item in base.get("conditions") or ()]
    update = _transition(event, base, generation, now)
    known = tuple(secrets)
    new = {**base, **update}
    for key in ("stackLock", "pendingChange"):  # shown only while a live holder blocks / a change waits
        if new.get(key) is None:
            new.pop(key, None)
    new["message"] = redact(new.get("message", ""), known)
    new["conditions"] = [{**item, "message": redact(item.get("message", ""), known)} for item in new["conditions"]]
    if "outputs" in new:
        new["outputs"] = redact_outputs(new["outputs"] or {}, known)
    return new


@singledispatch
def _transition(event: object, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    raise TypeError(f"no status transition for {type(event).__name__}")


#: Other modules' status events register their transitions here (``changerecords``).
register_transition = _transition.register


@_transition.register
def _started(event: Started, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    message = f"{event.operation} in progress since {timestamp(event.started)}"
    conditions = mark_reconciling(base["conditions"], Reason.PROGRESSING, message, generation, now)
    phase = Phase.DELETING if event.operation == "destroy" else Phase.RECONCILING
    return {"phase": phase.value, "message": message, "observedGeneration": generation, "conditions": conditions}


@_transition.register
def _queued(event: Queued, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    message = f"{event.operation} queued: waiting for a free engine slot (max_concurrent_operations)"
    conditions = mark_reconciling(
        base["conditions"], Reason.QUEUED, message, generation, now, ready_reason=Reason.QUEUED
    )
    return {
        "phase": Phase.PENDING.value,
        "message": message,
        "observedGeneration": generation,
        "conditions": conditions,
    }


@_transition.register
def _succeeded(event: OperationResult, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    update: dict[str, Any] = {
        "observedGeneration": generation,
        "stackLock": None,
        "engine": event.engine,
        "lastUpdate": _last_update(
            event.operation, "Succeeded", event.started, event.finished, event.changes.as_dict()
        ),
    }
    if event.operation == "destroy":
        message = event.message or f"destroyed ({event.changes.delete} resources deleted)"
        conditions = _set(base["conditions"], READY, "False", Reason.DESTROYED, message, generation, now)
        return {**update, "phase": Phase.DELETING.value, "message": message, "outputs": {}, "conditions": conditions}
    message = event.message or _summary(event)
    return {
        **update,
        "phase": Phase.READY.value,
        "message": message,
        "outputs": dict(event.outputs),
        "conditions": mark_ready(base["conditions"], message, generation, now),
    }


@_transition.register
def _failed(event: Failed, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    error = event.error
    last_update = _last_update(event.operation, "Failed", event.started, event.finished)
    if event.retry_in is None:
        hint = "not retried until the spec changes"
    elif error.permanent:
        hint = f"retrying in {event.retry_in:g}s once the cause is fixed"
    else:
        hint = f"retrying in {event.retry_in:g}s"
    message = f"{event.operation} failed: {error.message} ({hint})"
    if error.permanent:
        conditions = mark_stalled(base["conditions"], error.reason, message, generation, now)
    else:
        conditions = mark_reconciling(
            base["conditions"], Reason.RETRYING, message, generation, now, ready_reason=error.reason
        )
    if event.operation == "destroy":
        phase = Phase.DELETING
    else:
        phase = Phase.STALLED if error.permanent else Phase.FAILED
    return {
        "phase": phase.value,
        "message": message,
        "observedGeneration": generation,
        "lastUpdate": last_update,
        "conditions": conditions,
        "stackLock": getattr(error, "holder", None),
    }


@_transition.register
def _reconcile_requested(
    event: ReconcileRequested, base: dict[str, Any], generation: int, now: datetime
) -> dict[str, Any]:
    return {"lastHandledReconcileRequest": event.request}


@_transition.register
def _invalid(event: Invalid, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    message = "invalid spec: " + "; ".join(event.problems)
    conditions = mark_stalled(base["conditions"], Reason.INVALID_SPEC, message, generation, now)
    return {
        "phase": Phase.STALLED.value,
        "message": message,
        "observedGeneration": generation,
        "conditions": conditions,
    }


@_transition.register
def _suspended(event: Suspended, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    message = "suspended: no engine work until spec.suspend is false"
    conditions = base["conditions"]
    if condition(base, READY) is None:
        conditions = _set(conditions, READY, "Unknown", Reason.SUSPENDED, message, generation, now)
    conditions = _set(conditions, RECONCILING, "False", Reason.SUSPENDED, message, generation, now)
    conditions = _set(conditions, STALLED, "False", Reason.SUSPENDED, "", generation, now)
    return {
        "phase": Phase.SUSPENDED.value,
        "message": message,
        "observedGeneration": generation,
        "conditions": conditions,
    }


@_transition.register
def _reviewed(event: Reviewed, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    return {"policy": dict(event.policy), "cost": dict(event.cost)}


@_transition.register
def _policy_blocked(event: PolicyBlocked, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    message = (
        f"{event.message} (no engine call; checked again in {event.retry_in:g}s, or fix, waive or change the policy)"
    )
    conditions = mark_stalled(base["conditions"], Reason.POLICY_VIOLATION, message, generation, now)
    return {
        "phase": Phase.STALLED.value,
        "message": message,
        "observedGeneration": generation,
        "conditions": conditions,
        "policy": dict(event.policy),
        "cost": dict(event.cost),
    }


@_transition.register
def _forgotten(event: Forgotten, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    message = "deletionPolicy Retain: stack state forgotten, AWS resources left in place"
    conditions = _set(base["conditions"], READY, "False", Reason.RETAINED, message, generation, now)
    return {"phase": Phase.DELETING.value, "message": message, "conditions": conditions}


@_transition.register
def _drift_checked(event: DriftReport, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    changes = event.changes
    if event.drifted:
        message = event.message or f"AWS differs from the stack: {_counts(changes.as_dict())} planned"
    else:
        message = event.message or "AWS matches the stack"
    return {
        "lastDriftCheck": {"time": timestamp(event.finished), "drifted": event.drifted, "changes": changes.as_dict()},
        "conditions": mark_drifted(base["conditions"], event.drifted, message, generation, now),
    }


@_transition.register
def _drift_request_answered(
    event: DriftRequestAnswered, base: dict[str, Any], generation: int, now: datetime
) -> dict[str, Any]:
    return {"lastDriftCheck": {**(base.get("lastDriftCheck") or {}), "request": event.request}}


@_transition.register
def _drift_failed(event: DriftCheckFailed, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    message = f"drift check failed: {event.error.message}"
    return {
        "lastDriftCheck": {"time": timestamp(event.checked), "drifted": None, "error": event.error.reason},
        "conditions": mark_drifted(base["conditions"], None, message, generation, now),
    }


@_transition.register
def _remediated(event: Remediated, base: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
    update = _succeeded(event.result, base, generation, now)
    message = f"drift remediated by up at {timestamp(event.result.finished)}"
    update["conditions"] = mark_drifted(update["conditions"], False, message, generation, now, reason=Reason.REMEDIATED)
    return update


@_transition.register
def _remediation_failed(
    event: RemediationFailed, base: dict[str, Any], generation: int, now: datetime
) -> dict[str, Any]:
    message = f"remediating up failed: {event.error.message} (retried at the next drift check)"
    return {
        "lastUpdate": _last_update("up", "Failed", event.started, event.finished),
        "conditions": mark_drifted(
            base["conditions"], True, message, generation, now, reason=Reason.REMEDIATION_FAILED
        ),
    }


def _last_update(
    operation: str, result: str, started: datetime, finished: datetime, changes: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """A failed operation reports no change counts: the engine could not tell them."""
    return {
        "operation": operation,
        "result": result,
        "startTime": timestamp(started),
        "endTime": timestamp(finished),
        "changes": dict(changes or {}),
    }


def _summary(result: OperationResult) -> str:
    counts = _counts(result.changes.as_dict())
    return f"{result.operation} succeeded ({counts})" if counts else f"{result.operation} succeeded (no changes)"


def _counts(changes: Mapping[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in changes.items() if count and kind != "same")

"""What happens to a PaymentPlatform, as the controller tells status: the condition types,
the phases, the condition reasons, and one small frozen dataclass per event (an operation
started, was queued, failed; the spec was invalid; drift was checked; the review blocked).
Pure data: ``status.next_status`` turns each into a status update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from payplat.engines.base import EngineError, OperationResult

READY = "Ready"


RECONCILING = "Reconciling"


STALLED = "Stalled"


DRIFTED = "Drifted"


class Phase(str, Enum):
    PENDING = "Pending"
    RECONCILING = "Reconciling"
    READY = "Ready"
    FAILED = "Failed"
    STALLED = "Stalled"
    SUSPENDED = "Suspended"
    DELETING = "Deleting"
    AWAITING_APPROVAL = "AwaitingApproval"


class Reason:
    """Condition reasons set by the operator itself; engine errors bring their own."""

    SUCCEEDED = "Succeeded"
    PROGRESSING = "Progressing"
    QUEUED = "Queued"
    RETRYING = "RetryScheduled"
    INVALID_SPEC = "InvalidSpec"
    SUSPENDED = "Suspended"
    DELETING = "Deleting"
    DESTROYED = "Destroyed"
    RETAINED = "Retained"
    NO_DRIFT = "NoDrift"
    DRIFT_DETECTED = "DriftDetected"
    DRIFT_CHECK_FAILED = "DriftCheckFailed"
    REMEDIATED = "Remediated"
    REMEDIATION_FAILED = "RemediationFailed"
    STALLED = "Stalled"
    POLICY_VIOLATION = "PolicyViolation"
    ACCEPTED = "Accepted"
    INVALID_POLICY = "InvalidPolicy"
    AWAITING_APPROVAL = "AwaitingApproval"


@dataclass(frozen=True)
class Started:
    """An engine operation is about to run."""

    operation: str
    started: datetime


@dataclass(frozen=True)
class Queued:
    """An engine operation waits for its stack's previous one or for a global slot."""

    operation: str


@dataclass(frozen=True)
class Failed:
    """An engine operation failed. ``error.permanent`` stalls the platform; ``retry_in``
    is None when kopf will not retry (a deletion is always retried: giving up would drop
    the finalizer and silently skip the destroy)."""

    operation: str
    error: EngineError
    started: datetime
    finished: datetime
    retry_in: float | None = None


@dataclass(frozen=True)
class ReconcileRequested:
    """A person asked for a new attempt (the reconcile-request annotation): this run answers it."""

    request: str


@dataclass(frozen=True)
class Invalid:
    """The spec cannot be deployed; each problem names its field."""

    problems: tuple[str, ...]


@dataclass(frozen=True)
class Suspended:
    """``spec.suspend`` is true: no engine work until it is false again."""


@dataclass(frozen=True)
class Forgotten:
    """deletionPolicy Retain: the stack state was dropped, AWS left untouched."""


@dataclass(frozen=True)
class DriftRequestAnswered:
    """The check that just ran answered this check-drift request: do not run it again."""

    request: str


@dataclass(frozen=True)
class DriftCheckFailed:
    error: EngineError
    checked: datetime


@dataclass(frozen=True)
class Remediated:
    """Drift was found and ``up`` (driftDetection.mode Remediate) put AWS back."""

    result: OperationResult


@dataclass(frozen=True)
class RemediationFailed:
    """The remediating ``up`` failed: still drifted; the next due check tries again."""

    error: EngineError
    started: datetime
    finished: datetime


@dataclass(frozen=True)
class Reviewed:
    """The guardrails passed the plan (findings below critical, or waived): ``policy``
    and ``cost`` are ``status.policy`` and ``status.cost`` as the guardrails wrote them."""

    policy: Mapping[str, Any]
    cost: Mapping[str, Any]


@dataclass(frozen=True)
class PolicyBlocked:
    """An unwaived critical finding: no engine call for this generation; the operator
    looks again (policies or waivers may change) without a spec change."""

    message: str
    policy: Mapping[str, Any]
    cost: Mapping[str, Any]
    retry_in: float

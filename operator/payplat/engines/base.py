"""What every engine promises the operator, and the results it hands back.

The handlers only ever talk to ``Engine``; ``engines.pulumi`` (Automation API, real AWS)
and ``engines.offline`` (the same program under mocks, local state) implement it. Results
are plain frozen dataclasses so ``payplat.controller.status`` can turn them into conditions without
touching any I/O. Outputs in a result never contain secret values: engines replace them
with ``SECRET_MASK`` before returning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from payplat.model.identity import owner, stack_name
from payplat.model.spec import PlatformSpec
from payplat.program.stackkeys import INTERNAL_OUTPUTS, SECRET_MASK

__all__ = [
    "SECRET_MASK",
    "Audit",
    "Changes",
    "DriftReport",
    "Engine",
    "EngineError",
    "OperationResult",
    "PermanentEngineError",
    "Preview",
    "ResourceChange",
    "StackLockedError",
    "StackRef",
    "StackSecrets",
    "TransientEngineError",
    "UnrecognisedEngineError",
    "public_outputs",
]

Operation = Literal["up", "destroy", "refresh", "preview", "forget"]


@dataclass(frozen=True)
class StackRef:
    """Which PaymentPlatform a stack belongs to. ``stack_name`` (``identity.stack_name``,
    one-to-one and at most 100 characters) is the one key of everything per platform:
    Pulumi state and config, the stack lock, the operation gate, metrics and log lines."""

    namespace: str
    name: str

    @property
    def stack_name(self) -> str:
        return stack_name(self.namespace, self.name)

    @property
    def owner(self) -> str:
        return owner(self.namespace, self.name)


@dataclass(frozen=True)
class StackSecrets:
    """Secret inputs of one run. ``db_password=None`` means: generate one the first time
    and keep it encrypted in the stack's config, reusing it on every later run."""

    db_password: str | None = None

    def __repr__(self) -> str:  # never let a password reach a log line by accident
        return f"StackSecrets(db_password={'None' if self.db_password is None else SECRET_MASK!r})"


@dataclass(frozen=True)
class Changes:
    """Resource change counts of one operation, as Pulumi's summary reports them."""

    create: int = 0
    update: int = 0
    delete: int = 0
    replace: int = 0
    same: int = 0

    @property
    def total(self) -> int:
        return self.create + self.update + self.delete + self.replace

    def as_dict(self) -> dict[str, int]:
        return {
            "create": self.create,
            "update": self.update,
            "delete": self.delete,
            "replace": self.replace,
            "same": self.same,
        }


@dataclass(frozen=True)
class ResourceChange:
    """One resource a preview would change: Pulumi's step op, URN and type, the inputs
    that differ and, for a replacement, those forcing it (Pulumi's ``keys``, its reason)."""

    op: Literal["create", "update", "replace", "delete"]
    urn: str
    type: str
    diffs: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class Preview:
    """What ``up`` would do now, as the engine computed it (nothing applied)."""

    changes: Changes
    steps: tuple[ResourceChange, ...]
    started: datetime
    finished: datetime


@dataclass(frozen=True)
class Audit:
    """The facts of a change control decision an engine keeps with the stack's own
    history (the update's message), so the backend's record says who approved what."""

    generation: int
    plan_hash: str = ""
    approver: str = ""

    def message(self) -> str:
        parts = [f"payplat generation={self.generation}"]
        if self.plan_hash:
            parts.append(f"plan={self.plan_hash}")
        if self.approver:
            parts.append(f"approved-by={self.approver}")
        return " ".join(parts)


@dataclass(frozen=True)
class OperationResult:
    """The outcome of one successful engine operation (failures raise ``EngineError``)."""

    operation: Operation
    engine: str
    started: datetime
    finished: datetime
    changes: Changes = field(default_factory=Changes)
    outputs: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    #: The backend's id of this update (Pulumi: its version in the stack's history).
    update_id: str = ""


@dataclass(frozen=True)
class DriftReport:
    """What a refresh + preview found: any planned change means AWS no longer matches."""

    drifted: bool
    changes: Changes
    started: datetime
    finished: datetime
    message: str = ""


def public_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Stack outputs fit for a result (and so for status): the engine-only ones dropped."""
    return {key: value for key, value in outputs.items() if key not in INTERNAL_OUTPUTS}


class EngineError(Exception):
    """An operation failed. ``reason`` is a CamelCase condition reason, ``message`` says
    what a person can do about it; neither may contain secret values."""

    permanent = False
    #: Nothing in ``engines.errors`` recognised it: retried a bounded number of times only.
    unrecognised = False

    def __init__(self, message: str, *, reason: str = "EngineError") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class TransientEngineError(EngineError):
    """Worth retrying with backoff: throttling, network trouble, a lock held by a live operator."""


class UnrecognisedEngineError(TransientEngineError):
    """A failure no rule explains (or an engine bug): worth a few retries, since it may be
    passing, but after ``max_unrecognised_attempts`` the platform stalls with it shown."""

    unrecognised = True


class PermanentEngineError(EngineError):
    """Retrying the same spec cannot help (auth, policy, invalid configuration): stall
    until the spec changes."""

    permanent = True


class StackLockedError(TransientEngineError):
    """The stack is locked by a holder that is (or may be) alive. ``holder`` says who and
    since when (``engines.locks``), for ``status.stackLock``; None when only the CLI's
    message is known."""

    def __init__(self, message: str, *, reason: str = "StackLocked", holder: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, reason=reason)
        self.holder = dict(holder) if holder is not None else None


class Engine(Protocol):
    """One Pulumi stack per PaymentPlatform. Each call is one whole operation; callers
    guarantee at most one operation per stack at a time."""

    name: str

    async def up(
        self,
        ref: StackRef,
        spec: PlatformSpec,
        secrets: StackSecrets,
        *,
        audit: Audit | None = None,
        refresh: bool = False,
    ) -> OperationResult:
        """Apply ``spec``; ``audit`` goes into the backend's record of the update,
        ``refresh`` reads AWS first (as the preview it follows did)."""

    async def preview(
        self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets, *, refresh: bool = False
    ) -> Preview:
        """What ``up`` would change now, resource by resource; changes nothing in AWS."""

    async def destroy(self, ref: StackRef, spec: PlatformSpec, *, audit: Audit | None = None) -> OperationResult: ...

    async def detect_drift(self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets) -> DriftReport: ...

    async def has_stack(self, ref: StackRef) -> bool:
        """Whether the backend holds state for the stack (so a delete has something to
        destroy); the engine's state decides, never the object's status."""

    async def forget(self, ref: StackRef) -> None:
        """Drop the stack's state without touching AWS (deletionPolicy: Retain)."""

    async def migrate_stacks(self) -> list[tuple[str, str]]:
        """Rename stacks named before 0.2 (``<namespace>-<name>``, ambiguous) to
        ``identity.stack_name`` of the platform their state names; (old, new) pairs."""

    async def close(self) -> None:
        """Cancel operations in flight cleanly; called on operator shutdown."""

"""How engine operations are scheduled: what the handlers depend on, and the limits they obey.

kopf already runs the changing handlers (create/update/resume/delete) of one object one
at a time, but its timers run beside them, so a drift check could overlap an ``up`` of the
same stack. ``OperationGate`` closes that gap with a lock per stack, and bounds the
operations in flight across all stacks with one semaphore so a few slow stacks cannot
take every engine slot. The per-stack lock is taken before a slot: an object waiting for
its own previous operation never holds a slot others could use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from payplat.controller.claims import Claims, MemoryClaims
from payplat.controller.metrics import Metrics
from payplat.controller.settings import Settings
from payplat.engines.base import Engine
from payplat.model.tenancy import AllowList

__all__ = [
    "AllowListReader",
    "MemoryPlans",
    "OperationGate",
    "PlanStore",
    "PlatformReader",
    "PolicyStatusPublisher",
    "Runtime",
    "SecretReader",
    "StatusPublisher",
    "retry_delay",
    "utcnow",
]

#: (namespace, platform name, secret name, key) -> value; raises ``TransientEngineError``
#: when absent or when the Secret does not consent to that platform (``tenancy``).
SecretReader = Callable[[str, str, str, str], Awaitable[str]]
#: () -> the assume-role allow-list in force (read each time: administrators edit it live).
AllowListReader = Callable[[], Awaitable[AllowList]]
#: (namespace, name, status) -> None: writes status at once, before kopf's own patch.
StatusPublisher = Callable[[str, str, dict[str, Any]], Awaitable[None]]
#: (namespace, name) -> the PaymentPlatform as the API server has it now, None if gone.
PlatformReader = Callable[[str, str], Awaitable["dict[str, Any] | None"]]
#: (name, status patch) -> None: writes a cluster-scoped PaymentPlatformPolicy's status.
PolicyStatusPublisher = Callable[[str, dict[str, Any]], Awaitable[None]]


class PlanStore(Protocol):
    """Where change control keeps readable plans: ConfigMaps in the platform's namespace
    (``kube.ConfigMapPlans``). Create-and-delete only: the operator never reads or
    changes a tenant's ConfigMap, and deletes only one it created, by name and UID."""

    async def create(self, namespace: str, body: dict[str, Any]) -> str:
        """Create the ConfigMap (an existing one of that name is left as it is); its UID."""

    async def delete(self, namespace: str, name: str, uid: str) -> None:
        """Delete it if it is still the object of that UID; gone already is fine."""


class MemoryPlans:
    """A ``PlanStore`` in memory, for tests and ``payplat`` runs without a cluster."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    async def create(self, namespace: str, body: dict[str, Any]) -> str:
        key = (namespace, body["metadata"]["name"])
        uid, _ = self.objects.setdefault(key, (f"uid-{len(self.objects) + 1}", body))
        return uid

    async def delete(self, namespace: str, name: str, uid: str) -> None:
        if self.objects.get((namespace, name), ("", {}))[0] == uid:
            del self.objects[(namespace, name)]


async def _no_roles_allowed() -> AllowList:
    return AllowList.from_data({})


def utcnow() -> datetime:
    return datetime.now(UTC)


def retry_delay(retry: int, base: float, cap: float) -> float:
    """Capped exponential backoff: base, 2*base, 4*base, ... never more than cap."""
    return float(min(cap, base * 2 ** min(retry, 32)))


class OperationGate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, stack: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(stack, asyncio.Lock())
        async with lock, self._slots:
            yield

    def busy(self, stack: str) -> bool:
        """Would ``hold(stack)`` wait right now?"""
        lock = self._locks.get(stack)
        return self._slots.locked() or (lock is not None and lock.locked())

    def forget(self, stack: str) -> None:
        lock = self._locks.get(stack)
        if lock is not None and not lock.locked():
            del self._locks[stack]


@dataclass
class Runtime:
    """Everything a handler needs besides the object itself; stored in kopf's memo."""

    engine: Engine
    settings: Settings
    read_secret: SecretReader
    publish_status: StatusPublisher
    read_platform: PlatformReader
    metrics: Metrics = field(default_factory=Metrics)
    #: Environment-suffix claims (``payplat.controller.claims``); in memory unless ``payplat run`` sets the ConfigMap.
    claims: Claims = field(default_factory=MemoryClaims)
    read_allowlist: AllowListReader = field(default=_no_roles_allowed)
    #: Readable plan ConfigMaps (change control); in memory unless ``payplat run`` sets the API's.
    plans: PlanStore = field(default_factory=MemoryPlans)
    #: One per runtime, from settings.max_concurrent_operations unless given.
    gate: OperationGate = None  # type: ignore[assignment]  # set in __post_init__
    publish_policy_status: PolicyStatusPublisher | None = None
    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.gate is None:
            self.gate = OperationGate(self.settings.max_concurrent_operations)

    def backoff(self, retry: int) -> float:
        return retry_delay(retry, self.settings.backoff_base_seconds, self.settings.backoff_cap_seconds)

"""One active replica at a time, through a ``coordination.k8s.io/v1`` Lease.

kopf's peering pauses only lower-priority peers, so two replicas with equal priority
would both reconcile and race on the same stacks. A Lease is the standard answer: the
holder renews it every ``duration / 3`` seconds; a standby takes it over only once it has
not been renewed for a whole ``duration``. Writes carry the ``resourceVersion`` they read,
so two standbys cannot both win a takeover (one gets HTTP 409 and keeps waiting).

``decide`` and ``must_step_down`` are the whole policy and are pure; ``LeaseElector`` only
reads, writes and waits. Two leaders must never overlap, so the holder gives up *before*
a standby may take over: a standby acquires once ``renewTime + duration`` has passed,
while the holder steps down once ``renew_deadline(duration)`` (two thirds of it, like
client-go's renewDeadline) has passed since the ``renewTime`` it last wrote. Every API
call is bounded (``request_timeout``, and never past that deadline), so a hung renewal
cannot keep an old leader acting. ``keep`` then reports the loss and the runner exits
non-zero, so Kubernetes restarts the pod as a fresh standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

__all__ = [
    "Action",
    "LeaseElector",
    "LeaseState",
    "decide",
    "lease_body",
    "must_step_down",
    "parse_lease",
    "renew_deadline",
]

logger = logging.getLogger(__name__)


class Action(str, Enum):
    CREATE = "create"  # no Lease yet: create it holding it
    ACQUIRE = "acquire"  # free or expired: take it over
    RENEW = "renew"  # ours: refresh renewTime
    WAIT = "wait"  # someone else holds a live lease


@dataclass(frozen=True)
class LeaseState:
    holder: str | None
    renew_time: datetime | None
    duration_seconds: int
    transitions: int = 0
    acquire_time: datetime | None = None
    resource_version: str | None = None
    uid: str | None = None

    def expires(self) -> datetime | None:
        return None if self.renew_time is None else self.renew_time + timedelta(seconds=self.duration_seconds)


def decide(lease: LeaseState | None, identity: str, now: datetime) -> Action:
    if lease is None:
        return Action.CREATE
    if lease.holder == identity:
        return Action.RENEW
    expires = lease.expires()
    if not lease.holder or expires is None or now >= expires:
        return Action.ACQUIRE
    return Action.WAIT


def renew_deadline(duration: int) -> float:
    """Seconds after its last renewal a holder still acts: a third of the duration short
    of the moment a standby may take over, so the two never overlap."""
    return duration * 2 / 3


def must_step_down(last_renewed: datetime, now: datetime, duration: int) -> bool:
    """The holder's rule: stop acting once the renewal written at ``last_renewed`` is older
    than ``renew_deadline`` (a standby's takeover comes only at ``duration``)."""
    return (now - last_renewed).total_seconds() >= renew_deadline(duration)


def parse_lease(raw: dict[str, Any]) -> LeaseState:
    spec = raw.get("spec") or {}
    return LeaseState(
        holder=spec.get("holderIdentity") or None,
        renew_time=_parse_time(spec.get("renewTime")),
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
        acquire_time=_parse_time(spec.get("acquireTime")),
        resource_version=(raw.get("metadata") or {}).get("resourceVersion"),
        uid=(raw.get("metadata") or {}).get("uid"),
    )


def lease_body(
    name: str,
    namespace: str,
    action: Action,
    previous: LeaseState | None,
    identity: str | None,
    duration: int,
    now: datetime,
) -> dict[str, Any]:
    """The Lease to write for ``action``; ``identity=None`` releases it."""
    taking_over = action in (Action.CREATE, Action.ACQUIRE) or identity is None
    transitions = (previous.transitions if previous else 0) + (1 if action is Action.ACQUIRE else 0)
    acquired = now if taking_over else ((previous.acquire_time or now) if previous else now)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if previous is not None and previous.resource_version:
        metadata["resourceVersion"] = previous.resource_version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": duration,
            "acquireTime": _format_time(acquired),
            "renewTime": _format_time(now) if identity else None,
            "leaseTransitions": transitions,
        },
    }


class LeaseElector:
    """Acquire, keep and release one Lease with the ``kubernetes`` client (in threads)."""

    def __init__(
        self,
        name: str,
        namespace: str,
        identity: str,
        duration: int,
        api: Any = None,
        clock: Callable[[], datetime] | None = None,
        period: float | None = None,
        request_timeout: float = 5.0,
    ) -> None:
        self.name, self.namespace, self.identity, self.duration = name, namespace, identity, duration
        self.period = period if period is not None else max(0.5, duration / 5)
        self.request_timeout = request_timeout
        self._api = api
        self._clock = clock or (lambda: datetime.now(UTC))
        self.lost = False
        self.renewed_at: datetime | None = None  # the renewTime of our last successful write
        self.lease_uid: str | None = None  # the Lease object's UID: names this cluster in operation records

    @property
    def api(self) -> Any:
        if self._api is None:
            from kubernetes import client

            from payplat.controller.kube import api_client

            self._api = client.CoordinationV1Api(api_client())
        return self._api

    async def try_once(self) -> bool:
        """One read-decide-write round; True when we hold the Lease afterwards."""
        lease = await self._read()
        now = self._clock()
        action = decide(lease, self.identity, now)
        if action is Action.WAIT:
            return False
        body = lease_body(self.name, self.namespace, action, lease, self.identity, self.duration, now)
        written = await self._write(action, body)
        if written:
            self.renewed_at = now
            self.lease_uid = (lease.uid if lease is not None else None) or self.lease_uid
        return written

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait as a standby until we hold the Lease (True) or ``stop`` is set (False)."""
        announced = False
        while not stop.is_set():
            if await self._attempt():
                logger.info(
                    "leader election: %s holds Lease %s/%s, becoming active", self.identity, self.namespace, self.name
                )
                if self.lease_uid is None:  # we created it: its UID comes from the API server
                    with contextlib.suppress(Exception):
                        lease = await self._read()
                        self.lease_uid = lease.uid if lease is not None else None
                return True
            if not announced:
                logger.info(
                    "leader election: Lease %s/%s is held by another replica; %s stays passive",
                    self.namespace,
                    self.name,
                    self.identity,
                )
                announced = True
            await _sleep_or_stop(stop, self.period)
        return False

    async def keep(self, on_lost: Callable[[], None]) -> None:
        """Renew until cancelled; call ``on_lost`` once no renewal succeeded within
        ``renew_deadline`` (or someone else holds the Lease), before a standby may act."""
        while True:
            deadline = self._seconds_left()
            await asyncio.sleep(max(0.0, min(self.period, deadline)))
            deadline = self._seconds_left()
            if deadline > 0 and await self._attempt(timeout=min(self.request_timeout, deadline)):
                continue
            if (
                self.renewed_at is None
                or must_step_down(self.renewed_at, self._clock(), self.duration)
                or await self._taken()
            ):
                self.lost = True
                logger.error(
                    "leader election: could not renew Lease %s/%s within %.1fs; stopping",
                    self.namespace,
                    self.name,
                    renew_deadline(self.duration),
                )
                on_lost()
                return

    def _seconds_left(self) -> float:
        """Seconds until this holder must step down."""
        if self.renewed_at is None:
            return 0.0
        return renew_deadline(self.duration) - (self._clock() - self.renewed_at).total_seconds()

    async def release(self) -> None:
        """Hand the Lease back so a standby takes over at once, not after it expires."""
        try:
            lease = await self._read()
            if lease is not None and lease.holder == self.identity:
                body = lease_body(self.name, self.namespace, Action.RENEW, lease, None, self.duration, self._clock())
                await self._call(
                    self.request_timeout, self.api.replace_namespaced_lease, self.name, self.namespace, body
                )
                logger.info("leader election: released Lease %s/%s", self.namespace, self.name)
        except Exception as error:  # noqa: BLE001 - it expires on its own anyway
            logger.warning("leader election: could not release Lease: %s", error)

    async def _attempt(self, timeout: float | None = None) -> bool:
        try:
            return await asyncio.wait_for(self.try_once(), timeout=timeout or self.request_timeout)
        except Exception as error:  # noqa: BLE001 - an API hiccup is retried next period
            logger.warning(
                "leader election: Lease %s/%s unavailable: %s",
                self.namespace,
                self.name,
                getattr(error, "reason", None) or type(error).__name__,
            )
            return False

    async def _taken(self) -> bool:
        try:
            lease = await asyncio.wait_for(self._read(), timeout=self.request_timeout)
        except Exception:  # noqa: BLE001
            return False
        return lease is not None and lease.holder not in (None, self.identity)

    async def _read(self) -> LeaseState | None:
        from kubernetes.client.exceptions import ApiException

        try:
            raw = await self._call(self.request_timeout, self._read_raw)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return parse_lease(raw)

    def _read_raw(self, _request_timeout: float) -> dict[str, Any]:
        response = self.api.read_namespaced_lease(
            self.name, self.namespace, _preload_content=False, _request_timeout=_request_timeout
        )
        import json

        return dict(json.loads(response.data))

    async def _write(self, action: Action, body: dict[str, Any]) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            if action is Action.CREATE:
                await self._call(self.request_timeout, self.api.create_namespaced_lease, self.namespace, body)
            else:
                await self._call(
                    self.request_timeout, self.api.replace_namespaced_lease, self.name, self.namespace, body
                )
        except ApiException as error:
            if error.status == 409:  # someone else wrote first
                return False
            raise
        return True

    @staticmethod
    async def _call(timeout: float, function: Callable[..., Any], *args: Any) -> Any:
        """One blocking client call in a thread, given up on after ``timeout`` seconds
        (the client's own ``_request_timeout`` ends the thread's socket wait too)."""
        return await asyncio.wait_for(asyncio.to_thread(function, *args, _request_timeout=timeout), timeout=timeout)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def _format_time(moment: datetime) -> str:
    """MicroTime: RFC 3339 with microseconds, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(UTC)

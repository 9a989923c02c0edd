"""Leader election: the pure decision as a table, then two electors against an in-memory
Lease API that enforces resourceVersion like the API server does."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from payplat.controller.leadership import (
    Action,
    LeaseElector,
    LeaseState,
    decide,
    lease_body,
    must_step_down,
    parse_lease,
    renew_deadline,
)

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def lease(holder: str | None, renewed_ago: float | None, duration: int = 15) -> LeaseState:
    renew = None if renewed_ago is None else NOW - timedelta(seconds=renewed_ago)
    return LeaseState(holder=holder, renew_time=renew, duration_seconds=duration)


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (None, Action.CREATE),
        (lease("me", 5), Action.RENEW),
        (lease("me", 500), Action.RENEW),  # still ours on paper: renew it
        (lease("other", 5), Action.WAIT),
        (lease("other", 14.9), Action.WAIT),
        (lease("other", 15), Action.ACQUIRE),  # expired
        (lease(None, 1), Action.ACQUIRE),  # released
        (lease("other", None), Action.ACQUIRE),  # never renewed
    ],
)
def test_decide(state: LeaseState | None, action: Action) -> None:
    assert decide(state, "me", NOW) is action


def test_lease_body_round_trip() -> None:
    previous = LeaseState(
        holder="other", renew_time=NOW - timedelta(minutes=1), duration_seconds=15, transitions=2, resource_version="41"
    )
    body = lease_body("payplat", "ops", Action.ACQUIRE, previous, "me", 15, NOW)
    assert body["metadata"]["resourceVersion"] == "41"
    assert body["spec"]["renewTime"] == "2026-11-28T12:00:00.000000Z"
    parsed = parse_lease(body)
    assert (parsed.holder, parsed.transitions, parsed.renew_time) == ("me", 3, NOW)
    released = lease_body("payplat", "ops", Action.RENEW, parsed, None, 15, NOW)
    assert parse_lease(released).holder is None


class LeaseApi:
    """create/read/replace of one namespace's Leases, with optimistic concurrency."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.fail = False
        self.hang = False
        self.timeouts: list[float | None] = []

    def _check(self, timeout: float | None = None) -> None:
        """Like the real client: a hung server answers nothing, and the call ends with a
        timeout only when the caller gave one (else it would wait for ever; here: 60 s)."""
        self.timeouts.append(timeout)
        if self.hang:
            time.sleep(timeout if timeout is not None else 60)
            raise urllib3.exceptions.ReadTimeoutError(None, "/leases", "Read timed out.")
        if self.fail:
            raise ApiException(status=503, reason="Service Unavailable")

    def read_namespaced_lease(
        self, name: str, namespace: str, _preload_content: bool = True, _request_timeout: float | None = None
    ) -> Any:
        self._check(_request_timeout)
        if name not in self.leases:
            raise ApiException(status=404, reason="Not Found")
        return SimpleNamespace(data=json.dumps(self.leases[name]).encode())

    def create_namespaced_lease(
        self, namespace: str, body: dict[str, Any], _request_timeout: float | None = None
    ) -> None:
        self._check(_request_timeout)
        if body["metadata"]["name"] in self.leases:
            raise ApiException(status=409, reason="AlreadyExists")
        self._store(body)

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: dict[str, Any], _request_timeout: float | None = None
    ) -> None:
        self._check(_request_timeout)
        if self.leases[name]["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
            raise ApiException(status=409, reason="Conflict")
        self._store(body)

    def _store(self, body: dict[str, Any]) -> None:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[stored["metadata"]["name"]] = stored


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def electors(api: LeaseApi, clock: Clock) -> tuple[LeaseElector, LeaseElector]:
    return (
        LeaseElector("payplat", "ops", "a", 15, api=api, clock=clock),
        LeaseElector("payplat", "ops", "b", 15, api=api, clock=clock),
    )


def test_only_one_replica_holds_the_lease() -> None:
    api, clock = LeaseApi(), Clock()
    a, b = electors(api, clock)
    assert asyncio.run(a.try_once()) is True
    assert asyncio.run(b.try_once()) is False  # a holds a live lease
    clock.now += timedelta(seconds=5)
    assert asyncio.run(a.try_once()) is True  # renewal
    clock.now += timedelta(seconds=16)  # a stopped renewing
    assert asyncio.run(b.try_once()) is True
    assert api.leases["payplat"]["spec"]["holderIdentity"] == "b"
    assert api.leases["payplat"]["spec"]["leaseTransitions"] == 1
    assert asyncio.run(a.try_once()) is False  # the old leader does not take it back


def test_concurrent_takeover_has_one_winner() -> None:
    api, clock = LeaseApi(), Clock()
    a, b = electors(api, clock)

    async def race() -> list[bool]:
        return list(await asyncio.gather(a.try_once(), b.try_once()))

    assert sorted(asyncio.run(race())) == [False, True]


def test_release_hands_over_at_once() -> None:
    api, clock = LeaseApi(), Clock()
    a, b = electors(api, clock)
    asyncio.run(a.try_once())
    asyncio.run(a.release())
    assert asyncio.run(b.try_once()) is True


def test_standby_waits_until_stopped() -> None:
    api, clock = LeaseApi(), Clock()
    a, b = electors(api, clock)
    asyncio.run(a.try_once())

    async def standby() -> bool:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_soon(stop.set)
        return await b.acquire(stop)

    assert asyncio.run(standby()) is False


def test_leader_notices_when_it_cannot_renew() -> None:
    api, clock = LeaseApi(), Clock()
    a, b = electors(api, clock)
    asyncio.run(a.try_once())
    clock.now += timedelta(seconds=20)
    asyncio.run(b.try_once())  # b took over while a was partitioned away
    lost: list[bool] = []

    async def keep() -> None:
        a.period = 0.001
        await asyncio.wait_for(a.keep(lambda: lost.append(True)), timeout=10)

    asyncio.run(keep())
    assert lost == [True] and a.lost is True


@pytest.mark.parametrize("duration", [3, 5, 15, 60, 600])
def test_the_holder_steps_down_before_any_standby_may_take_over(duration: int) -> None:
    """For every moment after the last renewal: when a standby would acquire, the holder
    has already stepped down, with a third of the duration to spare."""
    for tenths in range(duration * 20):
        now = NOW + timedelta(seconds=tenths / 10)
        standby_acts = (
            decide(LeaseState(holder="a", renew_time=NOW, duration_seconds=duration), "b", now) is Action.ACQUIRE
        )
        if standby_acts:
            assert must_step_down(NOW, now, duration)
    assert must_step_down(NOW, NOW + timedelta(seconds=renew_deadline(duration) + 0.001), duration)
    assert not must_step_down(NOW, NOW + timedelta(seconds=renew_deadline(duration) - 0.1), duration)
    assert renew_deadline(duration) <= duration * 2 / 3


def test_a_hung_renewal_stops_the_leader_before_its_lease_expires() -> None:
    """The API server stops answering (a partition, a stuck connection): every call is
    bounded, so the holder steps down before ``renewTime + duration``, when a standby may
    take over, instead of blocking inside one renewal for as long as the socket allows."""
    api = LeaseApi()
    a = LeaseElector("payplat", "ops", "a", 3, api=api, period=0.2, request_timeout=1.0)  # the real clock
    assert asyncio.run(a.try_once()) is True
    written = parse_lease(api.leases["payplat"]).renew_time
    api.hang = True
    lost_at: list[datetime] = []

    async def keep() -> None:
        await asyncio.wait_for(a.keep(lambda: lost_at.append(datetime.now(UTC))), timeout=30)

    asyncio.run(keep())
    assert a.lost is True
    assert written is not None and lost_at[0] < written + timedelta(seconds=3)  # before a standby may act
    assert all(timeout is not None and timeout <= 1.0 for timeout in api.timeouts)

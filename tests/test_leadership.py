"""Leader election: the pure decision as a table, then two electors against an in-memory
Lease API that enforces resourceVersion like the API server does."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from payplat.leadership import Action, LeaseElector, LeaseState, decide, lease_body, parse_lease

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def lease(holder: str | None, renewed_ago: float | None, duration: int = 15) -> LeaseState:
    renew = None if renewed_ago is None else NOW - timedelta(seconds=renewed_ago)
    return LeaseState(holder=holder, renew_time=renew, duration_seconds=duration)


@pytest.mark.parametrize(("state", "action"), [
    (None, Action.CREATE),
    (lease("me", 5), Action.RENEW),
    (lease("me", 500), Action.RENEW),  # still ours on paper: renew it
    (lease("other", 5), Action.WAIT),
    (lease("other", 14.9), Action.WAIT),
    (lease("other", 15), Action.ACQUIRE),  # expired
    (lease(None, 1), Action.ACQUIRE),  # released
    (lease("other", None), Action.ACQUIRE),  # never renewed
])
def test_decide(state: LeaseState | None, action: Action) -> None:
    assert decide(state, "me", NOW) is action


def test_lease_body_round_trip() -> None:
    previous = LeaseState(holder="other", renew_time=NOW - timedelta(minutes=1), duration_seconds=15,
                          transitions=2, resource_version="41")
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

    def _check(self) -> None:
        if self.fail:
            raise ApiException(status=503, reason="Service Unavailable")

    def read_namespaced_lease(self, name: str, namespace: str, _preload_content: bool = True) -> Any:
        self._check()
        if name not in self.leases:
            raise ApiException(status=404, reason="Not Found")
        return SimpleNamespace(data=json.dumps(self.leases[name]).encode())

    def create_namespaced_lease(self, namespace: str, body: dict[str, Any]) -> None:
        self._check()
        if body["metadata"]["name"] in self.leases:
            raise ApiException(status=409, reason="AlreadyExists")
        self._store(body)

    def replace_namespaced_lease(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self._check()
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
    return (LeaseElector("payplat", "ops", "a", 15, api=api, clock=clock),
            LeaseElector("payplat", "ops", "b", 15, api=api, clock=clock))


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

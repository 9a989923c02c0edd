"""The kopf handlers driven as plain async functions, with a fake engine that counts calls.

Each test builds a PaymentPlatform dict, calls a handler the way kopf would (spec, meta,
status, patch, retry, memo, logger), applies the patch the way the API server would, and
looks at status, events, engine calls and metrics.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest

from payplat.controller import handlerdrift
from payplat.controller.conditions import condition
from payplat.controller.handlerdrift import check_drift
from payplat.controller.handlerreview import planned_resources, policy_changed
from payplat.controller.handlers import configure, delete, reconcile
from payplat.controller.handlersteps import CHECK_DRIFT_ANNOTATION, RECONCILE_REQUEST_ANNOTATION
from payplat.controller.operations import Runtime
from payplat.controller.settings import Settings
from payplat.engines.base import (
    Audit,
    Changes,
    DriftReport,
    EngineError,
    OperationResult,
    PermanentEngineError,
    Preview,
    ResourceChange,
    StackLockedError,
    StackRef,
    StackSecrets,
    TransientEngineError,
    UnrecognisedEngineError,
)
from payplat.guardrails import parse_policy
from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
PASSWORD = "Sup3r-s3cret-pw"


class FakeEngine:
    """Implements the Engine protocol; records calls and how many ran at once."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.secrets: list[StackSecrets] = []
        self.errors: dict[str, list[Exception]] = {"up": [], "destroy": [], "drift": []}
        self.drifted = False
        self.in_flight: dict[str, int] = {}
        self.max_in_flight = 0
        self.max_per_stack = 0
        self.pause = 0  # event-loop turns each operation yields, so overlaps can happen
        #: When set, every operation holds its slot until the test opens the gate.
        self.gate: asyncio.Event | None = None
        self.clock: Any = lambda: NOW
        #: What ``preview`` answers (change control), and the audits ``up``/``destroy`` got.
        self.steps: tuple[ResourceChange, ...] = ()
        self.previews: list[str] = []
        self.audits: list[Audit | None] = []

    async def _run(self, operation: str, ref: StackRef) -> None:
        self.calls.append((operation, ref.stack_name))
        self.in_flight[ref.stack_name] = self.in_flight.get(ref.stack_name, 0) + 1
        self.max_per_stack = max(self.max_per_stack, self.in_flight[ref.stack_name])
        self.max_in_flight = max(self.max_in_flight, sum(self.in_flight.values()))
        try:
            for _ in range(self.pause):
                await asyncio.sleep(0)
            if self.gate is not None:
                await self.gate.wait()
            if self.errors[operation]:
                raise self.errors[operation].pop(0)
        finally:
            self.in_flight[ref.stack_name] -= 1

    async def up(
        self,
        ref: StackRef,
        spec: PlatformSpec,
        secrets: StackSecrets,
        *,
        audit: Audit | None = None,
        refresh: bool = False,
    ) -> OperationResult:
        self.secrets.append(secrets)
        self.audits.append(audit)
        await self._run("up", ref)
        return OperationResult(
            operation="up",
            engine=self.name,
            started=NOW,
            finished=NOW + timedelta(seconds=90),
            changes=self._changes(),
            outputs={"albDnsName": f"{ref.name}.fake.example"},
            update_id=str(len(self.audits)),
        )

    def _changes(self) -> Changes:
        if not self.steps:
            return Changes(create=31)
        ops = [step.op for step in self.steps]
        return Changes(**{op: ops.count(op) for op in ("create", "update", "replace", "delete")})

    async def preview(
        self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets, *, refresh: bool = False
    ) -> Preview:
        self.previews.append(ref.stack_name)
        return Preview(self._changes(), self.steps, NOW, NOW)

    async def destroy(self, ref: StackRef, spec: PlatformSpec, *, audit: Audit | None = None) -> OperationResult:
        self.audits.append(audit)
        await self._run("destroy", ref)
        return OperationResult(
            operation="destroy", engine=self.name, started=NOW, finished=NOW, changes=Changes(delete=31)
        )

    async def detect_drift(self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets) -> DriftReport:
        await self._run("drift", ref)
        return DriftReport(
            drifted=self.drifted,
            changes=Changes(update=1 if self.drifted else 0),
            started=self.clock(),
            finished=self.clock(),
        )

    async def has_stack(self, ref: StackRef) -> bool:
        return any(op in ("up", "drift") for op, stack in self.calls if stack == ref.stack_name)

    async def forget(self, ref: StackRef) -> None:
        self.calls.append(("forget", ref.stack_name))

    async def close(self) -> None:
        self.calls.append(("close", ""))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """(type, reason, message) of every Kubernetes Event the handlers post."""
    posted: list[tuple[str, str, str]] = []

    def poster(kind: str) -> Any:
        def post(obj: Any, *, reason: str, message: str = "", **_: Any) -> None:
            posted.append((kind, reason, message))

        return post

    monkeypatch.setattr(kopf, "info", poster("Normal"))
    monkeypatch.setattr(kopf, "warn", poster("Warning"))
    monkeypatch.setattr(kopf, "event", poster("Event"))
    return posted


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def published() -> list[dict[str, Any]]:
    """Status patches written straight to the API server (``kube.publish_status``)."""
    return []


@pytest.fixture
def runtime(engine: FakeEngine, published: list[dict[str, Any]]) -> Runtime:
    objects: dict[str, dict[str, Any]] = {}

    async def read_secret(namespace: str, platform: str, name: str, key: str) -> str:
        if name == "missing":
            raise TransientEngineError(f"Secret {namespace}/{name} does not exist", reason="SecretNotFound")
        return PASSWORD

    async def publish_status(namespace: str, name: str, status: dict[str, Any]) -> None:
        published.append({"name": name, **copy.deepcopy(status)})
        merge(objects[name]["status"], status)

    async def read_platform(namespace: str, name: str) -> dict[str, Any] | None:
        """The object as the API server has it now (tests change ``objects`` behind a handler's back)."""
        obj = objects.get(name)
        return None if obj is None or obj.get("gone") else copy.deepcopy(obj)

    settings = Settings(
        max_concurrent_operations=2,
        backoff_base_seconds=5,
        backoff_cap_seconds=300,
        leader_election=False,
        metrics_port=0,
    )
    runtime = Runtime(
        engine=engine,
        settings=settings,
        read_secret=read_secret,
        publish_status=publish_status,
        read_platform=read_platform,
        clock=Clock(),
    )
    runtime.objects = objects  # type: ignore[attr-defined]
    engine.clock = runtime.clock
    return runtime


def platform(name: str = "shop", generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "payplat.io/v1alpha1",
        "kind": "PaymentPlatform",
        "metadata": {"name": name, "namespace": "team-a", "generation": generation, "uid": f"uid-{name}"},
        "spec": spec,
        "status": {},
    }


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge patch, as the API server applies kopf's status patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


async def call(handler: Any, obj: dict[str, Any], runtime: Runtime, retry: int = 0) -> kopf.Patch:
    """Run ``handler`` like kopf does and apply its kopf patch to ``obj`` (even if it
    raised), as the API server would; ``runtime.publish_status`` writes to it meanwhile."""
    runtime.objects[obj["metadata"]["name"]] = obj  # type: ignore[attr-defined]
    patch = kopf.Patch()
    try:
        await handler(
            name=obj["metadata"]["name"],
            namespace=obj["metadata"]["namespace"],
            spec=obj["spec"],
            meta=obj["metadata"],
            status=copy.deepcopy(obj["status"]),
            patch=patch,
            body=obj,
            retry=retry,
            memo=kopf.Memo(runtime=runtime),
            logger=logging.getLogger("test.handlers"),
        )
    finally:
        merge(obj["status"], dict(patch).get("status", {}))
    return patch


def cond(obj: dict[str, Any], kind: str) -> tuple[str, str]:
    found = condition(obj["status"], kind)
    assert found is not None, f"no {kind} condition in {obj['status']}"
    return found["status"], found["reason"]


# --------------------------------------------------------------------------- create / resync


async def test_create_runs_up_and_reports_ready(
    runtime: Runtime, engine: FakeEngine, events: list, published: list
) -> None:
    obj = platform()
    await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]
    status = obj["status"]
    assert status["phase"] == "Ready" and status["observedGeneration"] == 1 and status["engine"] == "fake"
    assert status["outputs"] == {"albDnsName": "shop.fake.example"}
    assert status["lastUpdate"]["changes"]["create"] == 31
    assert cond(obj, "Ready") == ("True", "Succeeded")
    assert cond(obj, "Reconciling") == ("False", "Succeeded")
    # The guardrails reviewed the plan first: the default spec serves HTTP without access logs.
    assert [(kind, reason) for kind, reason, _ in events] == [
        ("Normal", "PolicyFindings"),
        ("Normal", "UpStarted"),
        ("Normal", "UpSucceeded"),
    ]
    assert re.match(r"1 medium, 1 low: alb-https on aws:lb/listener:Listener \S*http", events[0][2]), events[0]
    assert status["cost"] == {
        "currency": "USD",
        "monthly": "130.99",
        "min": "130.99",
        "max": "249.43",
        "priceDate": "2025-01-01",
    }
    assert status["policy"]["blocked"] is False and status["policy"]["counts"]["medium"] == 1
    # While up ran, the API server already showed Reconciling (published before the engine call).
    assert published[0]["phase"] == "Reconciling"
    assert {c["type"]: c["status"] for c in published[0]["conditions"]}["Reconciling"] == "True"


async def test_resync_and_restart_with_same_generation_cost_no_engine_call(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = platform()
    await call(reconcile, obj, runtime)
    ready_since = condition(obj["status"], "Ready")["lastTransitionTime"]
    for _ in range(3):  # resume after a restart, metadata-only updates, re-lists
        await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]
    assert condition(obj["status"], "Ready")["lastTransitionTime"] == ready_since
    restarted = Runtime(
        engine=engine,
        settings=runtime.settings,
        read_secret=runtime.read_secret,
        publish_status=runtime.publish_status,
        read_platform=runtime.read_platform,
    )
    restarted.objects = runtime.objects  # type: ignore[attr-defined]
    await call(reconcile, obj, restarted)  # a new process still counts the platform in its gauge
    assert (
        restarted.metrics.registry.get_sample_value("payplat_platforms", {"condition": "Ready", "status": "True"}) == 1
    )
    obj["metadata"]["generation"] = 2  # a spec change
    await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop"), ("up", "team-a_shop")]
    assert obj["status"]["observedGeneration"] == 2


async def test_interrupted_operation_is_resumed(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = platform()
    obj["status"] = {"phase": "Reconciling", "observedGeneration": 1}  # operator died mid-up
    await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(("retry", "delay"), [(0, 5), (1, 10), (3, 40), (6, 300), (50, 300)])
async def test_transient_failure_retries_with_capped_backoff(
    runtime: Runtime, engine: FakeEngine, events: list, retry: int, delay: float
) -> None:
    engine.errors["up"].append(TransientEngineError("Rate exceeded", reason="Throttling"))
    obj = platform()
    with pytest.raises(kopf.TemporaryError) as raised:
        await call(reconcile, obj, runtime, retry=retry)
    assert raised.value.delay == delay
    assert obj["status"]["phase"] == "Failed"
    assert cond(obj, "Ready") == ("False", "Throttling")
    assert cond(obj, "Reconciling") == ("True", "RetryScheduled")
    assert f"retrying in {delay}s" in obj["status"]["message"]
    assert ("Warning", "UpFailed") in [(kind, reason) for kind, reason, _ in events]


async def test_retry_after_transient_failure_reaches_ready(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    engine.errors["up"].append(TransientEngineError("stack locked by a live operator", reason="StackLocked"))
    obj = platform()
    with pytest.raises(kopf.TemporaryError):
        await call(reconcile, obj, runtime, retry=0)
    await call(reconcile, obj, runtime, retry=1)  # a Failed phase is not settled: it runs again
    assert len(engine.calls) == 2
    assert cond(obj, "Ready") == ("True", "Succeeded")


async def test_permanent_failure_stalls_and_is_not_retried(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    engine.errors["up"].append(
        PermanentEngineError(
            "not authorized to perform ec2:CreateVpc; grant it to the operator role", reason="AuthorizationFailed"
        )
    )
    obj = platform()
    with pytest.raises(kopf.PermanentError):
        await call(reconcile, obj, runtime)
    assert obj["status"]["phase"] == "Stalled"
    assert cond(obj, "Stalled") == ("True", "AuthorizationFailed")
    assert "grant it to the operator role" in condition(obj["status"], "Stalled")["message"]
    await call(reconcile, obj, runtime)  # restart / resync: same generation
    assert engine.calls == [("up", "team-a_shop")]


async def test_invalid_spec_stalls_without_engine_call(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = platform(region="mars-1")
    with pytest.raises(kopf.PermanentError, match=r"spec.region"):
        await call(reconcile, obj, runtime)
    assert engine.calls == []
    assert cond(obj, "Stalled") == ("True", "InvalidSpec")
    assert "spec.region: 'mars-1' is not an AWS region name" in obj["status"]["message"]
    assert events[-1][:2] == ("Warning", "InvalidSpec")
    await call(reconcile, obj, runtime)  # the same invalid generation stays quiet
    obj["spec"]["region"] = "eu-west-1"
    obj["metadata"]["generation"] = 2
    await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]
    assert cond(obj, "Stalled") == ("False", "Succeeded")


async def test_unexpected_engine_exception_is_a_reported_transient_failure(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    engine.errors["up"].append(KeyError("vpcId"))
    obj = platform()
    with pytest.raises(kopf.TemporaryError):
        await call(reconcile, obj, runtime)
    assert cond(obj, "Ready") == ("False", "InternalError")


# --------------------------------------------------------------------------- secrets


async def test_password_secret_is_passed_to_the_engine_and_never_shown(
    runtime: Runtime, engine: FakeEngine, events: list, published: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine.errors["up"].append(TransientEngineError(f"db rejected password {PASSWORD}", reason="DbError"))
    obj = platform(database={"passwordSecretRef": {"name": "db-pass"}})
    with pytest.raises(kopf.TemporaryError) as raised:
        await call(reconcile, obj, runtime)
    assert engine.secrets[0].db_password == PASSWORD
    assert PASSWORD not in repr(obj["status"])
    assert PASSWORD not in repr(events) and PASSWORD not in repr(published)
    assert PASSWORD not in str(raised.value)
    assert PASSWORD not in caplog.text
    assert "db rejected password [secret]" in obj["status"]["message"]


async def test_missing_password_secret_is_retried_with_a_clear_message(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = platform(database={"passwordSecretRef": {"name": "missing"}})
    with pytest.raises(kopf.TemporaryError):
        await call(reconcile, obj, runtime)
    assert engine.calls == []
    assert cond(obj, "Ready") == ("False", "SecretNotFound")
    assert "Secret team-a/missing does not exist" in obj["status"]["message"]


# --------------------------------------------------------------------------- suspend


async def test_suspend_stops_engine_work(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = platform(suspend=True)
    await call(reconcile, obj, runtime)
    assert engine.calls == []
    assert obj["status"]["phase"] == "Suspended"
    assert cond(obj, "Reconciling") == ("False", "Suspended")
    runtime.clock.now = NOW + timedelta(days=30)
    await call(check_drift, obj, runtime)
    assert engine.calls == []
    obj["spec"]["suspend"] = False
    obj["metadata"]["generation"] = 2
    await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]


# --------------------------------------------------------------------------- delete


DELETE = {"deletionPolicy": "Delete", "loadBalancer": {"deletionProtection": False}}


async def test_delete_policy_destroys(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = platform(**DELETE)
    await call(reconcile, obj, runtime)
    await call(delete, obj, runtime)  # returning normally lets kopf remove the finalizer
    assert engine.calls == [("up", "team-a_shop"), ("destroy", "team-a_shop")]
    assert obj["status"]["lastUpdate"]["operation"] == "destroy"
    assert obj["status"]["outputs"] == {}
    assert ("Normal", "DestroySucceeded") in [(kind, reason) for kind, reason, _ in events]


@pytest.mark.parametrize(
    "error",
    [
        TransientEngineError("DependencyViolation", reason="DependencyViolation"),
        PermanentEngineError("AccessDenied", reason="AuthorizationFailed"),
    ],
)
async def test_failed_destroy_keeps_the_object_and_retries(
    runtime: Runtime, engine: FakeEngine, events: list, error: EngineError
) -> None:
    engine.errors["destroy"].append(error)
    obj = await ready_platform(runtime, **DELETE)
    with pytest.raises(kopf.TemporaryError):  # never PermanentError: that would drop the finalizer
        await call(delete, obj, runtime)
    assert obj["status"]["phase"] == "Deleting"
    assert error.message in obj["status"]["message"]
    await call(delete, obj, runtime, retry=1)
    assert [op for op, _ in engine.calls] == ["up", "destroy", "destroy"]
    assert obj["status"]["lastUpdate"]["result"] == "Succeeded"


async def test_retain_forgets_without_touching_aws(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = platform()  # Retain is the default
    await call(delete, obj, runtime)
    assert engine.calls == [("forget", "team-a_shop")]
    assert cond(obj, "Ready") == ("False", "Retained")


async def test_suspended_delete_waits_instead_of_skipping_the_destroy(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = await ready_platform(runtime, **DELETE)
    obj["spec"]["suspend"] = True
    with pytest.raises(kopf.TemporaryError, match="suspend"):
        await call(delete, obj, runtime)
    assert [op for op, _ in engine.calls] == ["up"]
    assert cond(obj, "Stalled") == ("True", "Suspended")


async def test_invalid_spec_delete_waits_for_a_fix(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime, **DELETE)
    obj["spec"]["region"] = "mars-1"
    with pytest.raises(kopf.TemporaryError, match="deletionPolicy: Retain"):
        await call(delete, obj, runtime)
    assert [op for op, _ in engine.calls] == ["up"]


async def test_never_deployed_platform_is_deleted_without_a_destroy(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = platform(region="mars-1", **DELETE)
    with pytest.raises(kopf.PermanentError):
        await call(reconcile, obj, runtime)
    await call(delete, obj, runtime)  # returns: kopf drops the finalizer
    assert engine.calls == [("forget", "team-a_shop")]
    assert events[-1][:2] == ("Normal", "NothingToDestroy")


# --------------------------------------------------------------------------- drift


async def ready_platform(runtime: Runtime, **spec: Any) -> dict[str, Any]:
    obj = platform(**spec)
    await call(reconcile, obj, runtime)
    return obj


async def test_drift_check_waits_for_the_interval(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime, driftDetection={"mode": "Detect", "intervalMinutes": 30})
    runtime.clock.now = NOW + timedelta(minutes=20)
    await call(check_drift, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]
    runtime.clock.now = NOW + timedelta(minutes=32)
    await call(check_drift, obj, runtime)
    assert engine.calls[-1] == ("drift", "team-a_shop")
    assert cond(obj, "Drifted") == ("False", "NoDrift")
    runtime.clock.now = NOW + timedelta(minutes=50)  # 18 minutes after the last check
    await call(check_drift, obj, runtime)
    assert len(engine.calls) == 2


async def test_drift_detect_reports_only(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime)
    engine.drifted = True
    runtime.clock.now = NOW + timedelta(hours=2)
    await call(check_drift, obj, runtime)
    assert [op for op, _ in engine.calls] == ["up", "drift"]
    assert cond(obj, "Drifted") == ("True", "DriftDetected")
    assert cond(obj, "Ready") == ("True", "Succeeded")
    assert obj["status"]["lastDriftCheck"]["drifted"] is True
    assert runtime.metrics.drift_detected._value.get() == 1
    assert ("Warning", "DriftDetected") in [(kind, reason) for kind, reason, _ in events]


async def test_drift_remediate_runs_up(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime, driftDetection={"mode": "Remediate"})
    engine.drifted = True
    runtime.clock.now = NOW + timedelta(hours=2)
    await call(check_drift, obj, runtime)
    assert [op for op, _ in engine.calls] == ["up", "drift", "up"]
    assert cond(obj, "Drifted") == ("False", "Remediated")
    assert obj["status"]["phase"] == "Ready"


async def test_drift_off_and_failed_checks(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime, driftDetection={"mode": "Off"})
    runtime.clock.now = NOW + timedelta(days=1)
    await call(check_drift, obj, runtime)
    assert len(engine.calls) == 1
    obj["spec"]["driftDetection"]["mode"] = "Detect"
    engine.errors["drift"].append(TransientEngineError("refresh timed out", reason="Timeout"))
    await call(check_drift, obj, runtime)  # a timer records the failure, it does not raise
    assert cond(obj, "Drifted") == ("Unknown", "DriftCheckFailed")
    assert obj["status"]["phase"] == "Ready"


async def test_remediation_failure_keeps_drifted(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime, driftDetection={"mode": "Remediate"})
    engine.drifted = True
    engine.errors["up"].append(TransientEngineError("throttled", reason="Throttling"))
    runtime.clock.now = NOW + timedelta(hours=2)
    await call(check_drift, obj, runtime)
    assert cond(obj, "Drifted") == ("True", "RemediationFailed")


# --------------------------------------------------------------------------- concurrency


async def test_global_limit_bounds_operations_in_flight(
    runtime: Runtime, engine: FakeEngine, events: list, published: list
) -> None:
    # The first two operations hold their slots until the other six have said they wait:
    # with a fixed pause instead, a loaded machine let the first two finish before the
    # later platforms (reviewed in threads) reached the limit, and fewer of them queued.
    engine.gate = asyncio.Event()
    objects = [platform(f"shop-{index}") for index in range(8)]
    for obj in objects:  # plans are cached per spec: warm them, or planning (one at a time) staggers the ups
        planned_resources(
            parse_spec(obj["spec"], name=obj["metadata"]["name"]), obj["metadata"]["name"], obj["metadata"]["namespace"]
        )
    running = asyncio.gather(*(call(reconcile, obj, runtime) for obj in objects))
    for _ in range(6000):  # at most a minute
        if len([status for status in published if status.get("phase") == "Pending"]) >= 6:
            break
        await asyncio.sleep(0.01)
    assert len(engine.calls) == 2  # only the slots' holders reached the engine
    engine.gate.set()
    await running
    assert len(engine.calls) == 8
    assert engine.max_in_flight == runtime.settings.max_concurrent_operations == 2
    assert all(obj["status"]["phase"] == "Ready" for obj in objects)
    queued = [status for status in published if status.get("phase") == "Pending"]
    assert len(queued) == 6  # all but the first two waited for a slot, and said so
    assert "waiting for a free engine slot" in queued[0]["message"]


async def test_timer_and_handler_never_overlap_on_one_stack(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime)
    engine.pause = 5
    runtime.clock.now = NOW + timedelta(hours=2)
    changed = copy.deepcopy(obj)
    changed["metadata"]["generation"] = 2
    await asyncio.gather(call(check_drift, obj, runtime), call(reconcile, changed, runtime))
    assert [op for op, _ in engine.calls] == ["up", "drift", "up"]
    assert engine.max_per_stack == 1


# --------------------------------------------------------------------------- wiring


async def test_startup_applies_kopf_settings(runtime: Runtime) -> None:
    settings = kopf.OperatorSettings()
    await configure(settings=settings, memo=kopf.Memo(runtime=runtime), logger=logging.getLogger("t"))
    assert settings.persistence.finalizer == "payplat.io/finalizer"
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert settings.peering.standalone is True
    assert settings.watching.server_timeout == 600 and isinstance(settings.watching.server_timeout, int)
    assert settings.posting.level == logging.INFO


async def test_operations_are_counted_in_metrics(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    engine.errors["up"].append(TransientEngineError("throttled", reason="Throttling"))
    obj = platform()
    with pytest.raises(kopf.TemporaryError):
        await call(reconcile, obj, runtime)
    await call(reconcile, obj, runtime, retry=1)
    registry = runtime.metrics.registry
    assert registry.get_sample_value("payplat_operations_total", {"operation": "up", "result": "failed"}) == 1
    assert registry.get_sample_value("payplat_operations_total", {"operation": "up", "result": "succeeded"}) == 1
    assert registry.get_sample_value("payplat_platforms", {"condition": "Ready", "status": "True"}) == 1
    assert registry.get_sample_value("payplat_operation_duration_seconds_count", {"operation": "up"}) == 2


def test_handlers_are_registered_with_explicit_ids() -> None:
    registry = kopf.OperatorRegistry()
    handlerdrift.register_drift_timer(30, registry=registry)
    ids = {handler.id for handler in registry._spawning.get_all_handlers()}
    assert ids == {"drift"}
    default = kopf.get_default_registry()
    changing = {handler.id for handler in default._changing.get_all_handlers()}
    assert {"create", "update", "resume", "delete"} <= changing


async def test_a_check_drift_annotation_runs_one_check_now(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    """kubectl annotate pp/NAME payplat.io/check-drift=$(date +%s): checked on the next
    tick whatever the interval, once per value, and even with driftDetection Off."""
    obj = await ready_platform(runtime, driftDetection={"mode": "Off"})
    engine.drifted = True
    runtime.clock.now = NOW + timedelta(minutes=1)
    obj["metadata"].setdefault("annotations", {})[CHECK_DRIFT_ANNOTATION] = "first"
    await call(check_drift, obj, runtime)
    assert [op for op, _ in engine.calls] == ["up", "drift"]  # Off: reported, never remediated
    assert cond(obj, "Drifted") == ("True", "DriftDetected")
    assert obj["status"]["lastDriftCheck"]["request"] == "first"
    await call(check_drift, obj, runtime)  # the same request is not answered twice
    assert len(engine.calls) == 2
    obj["metadata"]["annotations"][CHECK_DRIFT_ANNOTATION] = "second"
    engine.errors["drift"].append(TransientEngineError("refresh timed out", reason="Timeout"))
    await call(check_drift, obj, runtime)
    assert obj["status"]["lastDriftCheck"]["request"] == "second"  # a failed check answers it too
    assert cond(obj, "Drifted") == ("Unknown", "DriftCheckFailed")


# --------------------------------------------------------------------------- acting only on the newest object


def changed_behind_the_handler(runtime: Runtime, engine: FakeEngine, after: str, change: Any) -> None:
    """Once the engine finishes ``after``, the object on the API server changes (a person's
    update, delete or suspend lands while the handler still works)."""
    original = getattr(engine, "detect_drift" if after == "drift" else after)

    async def then_change(ref: StackRef, *args: Any) -> Any:
        result = await original(ref, *args)
        change(runtime.objects[ref.name])  # type: ignore[attr-defined]
        return result

    setattr(engine, "detect_drift" if after == "drift" else after, then_change)


def spec_update(obj: dict[str, Any]) -> None:
    obj["metadata"]["generation"] += 1
    obj["spec"]["services"] = [{"name": "api", "image": "nginx:1.27"}]


def deletion(obj: dict[str, Any]) -> None:
    obj["metadata"]["deletionTimestamp"] = "2026-11-28T12:00:00Z"


def removal(obj: dict[str, Any]) -> None:
    obj["gone"] = True  # the destroy ran and the finalizer went: the object no longer exists


def suspension(obj: dict[str, Any]) -> None:
    obj["spec"]["suspend"] = True


@pytest.mark.parametrize("change", [spec_update, deletion, removal, suspension])
async def test_drift_remediation_never_acts_on_an_object_that_changed_meanwhile(
    runtime: Runtime, engine: FakeEngine, events: list, change: Any
) -> None:
    """The remediating ``up`` waits for the stack; by then a newer spec was applied (it
    would revert it), a delete started or finished (it would re-create everything), or
    the platform was suspended. It must not run."""
    obj = await ready_platform(runtime, driftDetection={"mode": "Remediate"})
    engine.drifted = True
    changed_behind_the_handler(runtime, engine, "drift", change)
    runtime.clock.now = NOW + timedelta(hours=2)
    await call(check_drift, obj, runtime)
    assert [op for op, _ in engine.calls] == ["up", "drift"]
    assert "Remediated" not in [reason for _, reason, _ in events]
    assert obj["status"]["observedGeneration"] == 1  # nothing claims the newer generation


@pytest.mark.parametrize("change", [spec_update, deletion, removal, suspension])
async def test_no_engine_call_for_an_outdated_object(
    runtime: Runtime, engine: FakeEngine, events: list, change: Any
) -> None:
    obj = platform(driftDetection={"mode": "Remediate"})
    runtime.objects[obj["metadata"]["name"]] = copy.deepcopy(obj)  # type: ignore[attr-defined]
    newest = copy.deepcopy(obj)
    change(newest)
    original = runtime.read_platform

    async def newer(namespace: str, name: str) -> dict[str, Any] | None:
        return None if newest.get("gone") else copy.deepcopy(newest)

    runtime.read_platform = newer
    patch = kopf.Patch()
    await reconcile(
        name="shop",
        namespace="team-a",
        spec=obj["spec"],
        meta=obj["metadata"],
        status={},
        patch=patch,
        body=obj,
        retry=0,
        memo=kopf.Memo(runtime=runtime),
        logger=logging.getLogger("test"),
    )
    runtime.read_platform = original
    assert engine.calls == []
    assert "phase" not in dict(patch).get("status", {})


async def test_an_unreadable_object_is_retried_not_guessed(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    async def broken(namespace: str, name: str) -> dict[str, Any] | None:
        raise ConnectionError("apiserver unreachable")

    runtime.read_platform = broken
    with pytest.raises(kopf.TemporaryError, match="could not re-read"):
        await call(reconcile, platform(), runtime)
    assert engine.calls == []


async def test_destroy_still_runs_on_a_deleted_object(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime, **DELETE)
    deletion(obj)
    await call(delete, obj, runtime)
    assert [op for op, _ in engine.calls] == ["up", "destroy"]


# --------------------------------------------------------------------------- deleting: the engine decides


@pytest.mark.parametrize("status", [{}, {"phase": "Pending"}, {"phase": "Stalled", "observedGeneration": 1}])
async def test_a_deployed_platform_with_a_lost_status_is_destroyed(
    runtime: Runtime, engine: FakeEngine, events: list, status: dict[str, Any]
) -> None:
    """A lost status patch or an object restored from backup says nothing about AWS."""
    obj = await ready_platform(runtime, **DELETE)
    obj["status"] = copy.deepcopy(status)
    await call(delete, obj, runtime)
    assert [op for op, _ in engine.calls] == ["up", "destroy"]
    assert ("Normal", "DestroySucceeded") in [(kind, reason) for kind, reason, _ in events]


async def test_a_failing_stack_lookup_blocks_the_delete(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    async def unreachable(ref: StackRef) -> bool:
        raise TransientEngineError("backend unreachable", reason="NetworkError")

    engine.has_stack = unreachable  # type: ignore[method-assign]
    obj = platform(**DELETE)
    with pytest.raises(kopf.TemporaryError, match="backend unreachable"):
        await call(delete, obj, runtime)
    assert engine.calls == []


# --------------------------------------------------------------------------- bounded retries, and asking for one


async def test_an_unrecognised_error_stalls_after_bounded_attempts(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    limit = runtime.settings.max_unrecognised_attempts
    obj = platform()
    for attempt in range(limit):
        engine.errors["up"].append(UnrecognisedEngineError("up failed (unrecognised error): name too long"))
        expected = kopf.PermanentError if attempt == limit - 1 else kopf.TemporaryError
        with pytest.raises(expected):
            await call(reconcile, obj, runtime, retry=attempt)
    assert obj["status"]["phase"] == "Stalled"
    assert cond(obj, "Stalled")[0] == "True"
    assert f"gave up after {limit} attempts" in obj["status"]["message"]
    assert "name too long" in obj["status"]["message"]
    assert RECONCILE_REQUEST_ANNOTATION in obj["status"]["message"]


async def test_an_engine_crash_counts_as_unrecognised(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    engine.errors["up"].append(KeyError("boom"))
    with pytest.raises(kopf.PermanentError):
        await call(reconcile, platform(), runtime, retry=runtime.settings.max_unrecognised_attempts - 1)


async def test_a_reconcile_request_retries_a_stalled_platform_once(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    engine.errors["up"].append(PermanentEngineError("AccessDenied", reason="AuthFailed"))
    obj = platform()
    with pytest.raises(kopf.PermanentError):
        await call(reconcile, obj, runtime)
    await call(reconcile, obj, runtime)  # a resync: Stalled is settled, no engine call
    assert len(engine.calls) == 1
    obj["metadata"]["annotations"] = {RECONCILE_REQUEST_ANNOTATION: "2026-11-28T12:05:00Z"}
    await call(reconcile, obj, runtime)  # the person fixed IAM and asked for a new attempt
    assert len(engine.calls) == 2
    assert obj["status"]["phase"] == "Ready"
    assert obj["status"]["lastHandledReconcileRequest"] == "2026-11-28T12:05:00Z"
    await call(reconcile, obj, runtime)  # answered: the same value asks for nothing more
    assert len(engine.calls) == 2


# --------------------------------------------------------------------------- a live lock holder, in status


async def test_a_live_lock_holder_is_shown_in_status_until_the_stack_is_free(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    holder = {
        "who": "runner@ci-runner-7",
        "hostname": "ci-runner-7",
        "username": "runner",
        "pid": 4242,
        "since": "2026-11-28T11:58:00Z",
        "lockFile": ".pulumi/locks/organization/payplat/team-a-shop/x.json",
        "judgement": "not an operation this operator recorded",
    }
    engine.errors["up"].append(StackLockedError("stack team-a-shop is locked by runner@ci-runner-7", holder=holder))
    obj = platform()
    with pytest.raises(kopf.TemporaryError):
        await call(reconcile, obj, runtime)
    assert obj["status"]["stackLock"] == holder
    assert obj["status"]["phase"] == "Failed"
    await call(reconcile, obj, runtime, retry=1)
    assert "stackLock" not in obj["status"]


# --------------------------------------------------------------------------- guardrails


CPU_CAP = {
    "metadata": {"name": "org", "generation": 1},
    "spec": {
        "rules": [
            {
                "name": "cpu-cap",
                "resourceTypes": ["aws:ecs/taskDefinition:TaskDefinition"],
                "expression": "int(resource.inputs.cpu) <= 256",
                "severity": "critical",
                "message": "at most a quarter vCPU",
            }
        ]
    },
}
BIG = [{"name": "api", "image": "docker.io/traefik/whoami:v1.10.3", "public": True, "cpu": 512, "memory": 1024}]


def with_policies(handler: Any, *bodies: dict[str, Any]) -> Any:
    """The handler as kopf calls it, with the ``policies`` index holding ``bodies``."""
    index = {body["metadata"]["name"]: [parse_policy(body)] for body in bodies}
    return functools.partial(handler, policies=index)


async def test_a_critical_finding_stalls_with_no_engine_call(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = platform(services=BIG)
    with pytest.raises(kopf.TemporaryError, match=r"policy violation: org.cpu-cap"):
        await call(with_policies(reconcile, CPU_CAP), obj, runtime)
    assert engine.calls == []
    assert obj["status"]["phase"] == "Stalled"
    assert cond(obj, "Stalled") == ("True", "PolicyViolation") and cond(obj, "Ready") == ("False", "PolicyViolation")
    assert re.search(r"org.cpu-cap on aws:ecs/taskDefinition:TaskDefinition \S*api-task", obj["status"]["message"])
    assert obj["status"]["policy"]["blocked"] is True and obj["status"]["cost"]["monthly"]
    assert ("Warning", "PolicyViolation") in [(kind, reason) for kind, reason, _ in events]
    # Not settled: kopf's retry (or a resume) looks again, and a deleted policy lets it through.
    await call(reconcile, obj, runtime, retry=1)
    assert engine.calls == [("up", "team-a_shop")] and obj["status"]["phase"] == "Ready"
    assert obj["status"]["policy"]["blocked"] is False and cond(obj, "Stalled") == ("False", "Succeeded")


async def test_a_waiver_with_a_reason_lets_it_through(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = platform(services=BIG)
    obj["metadata"]["annotations"] = {"payplat.io/waive-org.cpu-cap": "settlement batch, CAB-1234"}
    await call(with_policies(reconcile, CPU_CAP), obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]
    assert obj["status"]["policy"]["waivers"] == [{"rule": "org.cpu-cap", "reason": "settlement batch, CAB-1234"}]
    assert ("Normal", "PolicyWaived", "org.cpu-cap waived: settlement batch, CAB-1234") in events


async def test_a_policy_that_selects_another_platform_does_not_block(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    scoped = {**CPU_CAP, "spec": {**CPU_CAP["spec"], "platformSelector": {"matchLabels": {"tier": "prod"}}}}
    obj = platform(services=BIG)
    await call(with_policies(reconcile, scoped), obj, runtime)
    assert engine.calls == [("up", "team-a_shop")] and obj["status"]["policy"]["policies"] == []


async def test_remediation_is_blocked_by_a_critical_finding(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = await ready_platform(runtime, services=BIG, driftDetection={"mode": "Remediate"})
    engine.drifted = True
    runtime.clock.now = NOW + timedelta(hours=2)
    await call(with_policies(check_drift, CPU_CAP), obj, runtime)
    assert [op for op, _ in engine.calls] == ["up", "drift"]
    assert cond(obj, "Drifted")[0] == "True" and obj["status"]["phase"] == "Ready"
    assert any(
        reason == "PolicyViolation" and message.startswith("remediation blocked: policy violation: org.cpu-cap")
        for _, reason, message in events
    )


async def test_policy_status_reports_cel_that_does_not_compile(runtime: Runtime) -> None:
    written: list[tuple[str, dict[str, Any]]] = []

    async def publish(name: str, status: dict[str, Any]) -> None:
        written.append((name, status))

    runtime.publish_policy_status = publish
    broken = copy.deepcopy(CPU_CAP)
    broken["spec"]["rules"][0]["expression"] = "int(resource.inputs.cpu <= 256"
    await policy_changed(type="ADDED", name="org", body=broken, memo=kopf.Memo(runtime=runtime))
    name, status = written[-1]
    ready = condition(status, "Ready")
    assert name == "org" and ready is not None and (ready["status"], ready["reason"]) == ("False", "InvalidPolicy")
    assert ready["message"].startswith("spec.rules[0].expression: syntax error at line 1")
    assert status["problems"] == [ready["message"]] and status["observedGeneration"] == 1
    body = {**CPU_CAP, "status": status}
    await policy_changed(type="MODIFIED", name="org", body=body, memo=kopf.Memo(runtime=runtime))
    assert condition(written[-1][1], "Ready")["reason"] == "Accepted"  # type: ignore[index]
    settled = {**CPU_CAP, "status": {**status, **written[-1][1]}}
    count = len(written)
    await policy_changed(type="MODIFIED", name="org", body=settled, memo=kopf.Memo(runtime=runtime))
    assert len(written) == count  # nothing changed, nothing written: no event loop with our own writes


async def test_a_ready_platform_without_cost_gets_it_on_resume_without_an_engine_call(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    """Made Ready by an operator before the guardrails: status.cost appears on the next resume."""
    obj = await ready_platform(runtime)
    del obj["status"]["cost"], obj["status"]["policy"]
    await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]
    assert obj["status"]["cost"]["monthly"] == "130.99" and obj["status"]["phase"] == "Ready"
    assert obj["status"]["policy"]["counts"]["medium"] == 1


# No asyncio plugin in this project: every ``async def test_*`` above runs in its own loop.
def _in_event_loop(test: Any) -> Any:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return run


for _name, _test in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_test):
        globals()[_name] = _in_event_loop(_test)
